// What a process that runs once per WAL segment (archive_command, restore_command) learned about an S3 bucket,
// kept in a small file of its private spool so that the next one does not ask again: whether the bucket has
// Object Lock (asked again every UTC day, as the push key is made anew), and whether the server honours a
// conditional PUT (If-None-Match: *), which saves the HEAD before every write.
import { readFileSync, renameSync, writeFileSync } from 'node:fs';

export interface BucketFacts {
  /** The repository they are true of: endpoint, bucket and prefix (repository.location). */
  location: string;
  /** The server refuses (412) a PUT with If-None-Match: * when the object exists, so that PUT alone is create-only. */
  conditionalWrites?: boolean;
  /** The bucket has S3 Object Lock enabled, as learned on `day` (YYYY-MM-DD, UTC). */
  objectLock?: { enabled: boolean; day: string };
}

export function utcDay(ms = Date.now()): string {
  return new Date(ms).toISOString().slice(0, 10);
}

/** The facts in `file` about `location`; nothing when the file is missing, unreadable or about another repository. */
export function readBucketFacts(file: string, location: string): BucketFacts {
  try {
    const facts = JSON.parse(readFileSync(file, 'utf8')) as BucketFacts;
    if (facts.location === location) return facts;
  } catch {
    /* not learned yet */
  }
  return { location };
}

/** Adds `learned` to the facts in `file` (written whole, then renamed: readers never see half a file). */
export function recordBucketFacts(file: string, location: string, learned: Omit<BucketFacts, 'location'>): void {
  const facts = { ...readBucketFacts(file, location), ...learned, location };
  const temp = `${file}.${process.pid}.tmp`;
  try {
    writeFileSync(temp, `${JSON.stringify(facts)}\n`, { mode: 0o600 });
    renameSync(temp, file);
  } catch {
    /* a cache: the next process asks the bucket again */
  }
}
