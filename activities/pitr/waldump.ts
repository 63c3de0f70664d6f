// Reading archived WAL with pg_waldump, for what the archive listing cannot tell: when the last transaction
// committed, and where a restore point or a transaction is (so which base backup precedes it).
import { rmSync, writeFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { PgwardenError } from '../../domain/errors.js';
import { childEnvironment } from '../process-environment.js';
import { inParallel } from '../progress.js';
import type { WalKeys } from '../keys/wal-keys.js';
import type { Repository } from '../storage/repository.js';
import { fetchWalBytes } from '../wal/archive.js';
import { missingUpTo, timelineOf, timelinePath, type ArchiveListing, type SegmentRef } from '../wal/coverage.js';
import { parseLsn, segmentName } from '../wal/names.js';
import { searchRanges, type BaseBackupPoint } from '../wal/plan.js';
import { describeTarget, epochMicros, type RecoveryTarget } from '../wal/target.js';

/** The time of the last commit or abort in the newest archived segments up to `last` (pg_waldump), if any. */
export async function lastCommitTime(
  repo: Repository,
  database: string,
  keys: WalKeys,
  last: { timeline: number; segno: bigint } | undefined,
  segmentSize: number,
  waldump: string,
): Promise<bigint | undefined> {
  if (!last) return undefined;
  const dir = await mkdtemp(join(tmpdir(), 'pgwarden-waldump-'));
  try {
    for (let back = 0n; back < 3n && last.segno - back >= 0n; back += 1n) {
      const name = segmentName(last.timeline, last.segno - back, segmentSize);
      const bytes = await fetchWalBytes(repo, database, name, keys);
      if (!bytes) return undefined;
      writeFileSync(join(dir, name), bytes);
      const run = await execa(waldump, [join(dir, name)], { reject: false, env: childEnvironment({ TZ: 'UTC' }), extendEnv: false });
      const times = [...run.stdout.matchAll(/desc: (?:COMMIT|ABORT) (\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(?:\.\d+)?) UTC/g)].map((m) => epochMicros(`${m[1]!.replace(' ', 'T')}Z`));
      if (times.length > 0) return times.reduce((a, b) => (a > b ? a : b));
    }
    return undefined;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The most archived WAL a plan reads to find a restore point or a transaction (16 GiB of 16 MiB segments). */
export const SEARCH_LIMIT = 1024;
const BATCH = 16;

export interface Found {
  backup: BaseBackupPoint;
  lsn: bigint;
  /** pg_waldump's description of the record ("RESTORE_POINT before-migration", "COMMIT 2026-…"). */
  record: string;
}

/**
 * Finds the restore point or transaction of an xid:/name: target in the archived WAL along `timeline`, newest base
 * backup first, and so the newest base backup that precedes it. Throws, suggesting --backup, when the WAL that
 * would decide is not archived or too much to read.
 */
export async function locateTarget(options: {
  repo: Repository;
  database: string;
  keys: WalKeys;
  waldump: string;
  listing: ArchiveListing;
  timeline: number;
  candidates: BaseBackupPoint[]; // on the timeline, oldest first
  endSegno: bigint; // the last segment archived without a hole after the newest candidate
  target: Extract<RecoveryTarget, { kind: 'xid' | 'name' }>;
  onProgress?: (segments: number) => void;
}): Promise<Found> {
  const { listing, target } = options;
  const what = describeTarget(target);
  const suggest = `name the base backup to start from with --backup (pgwarden backups list --db ${options.database} shows them)`;
  let read = 0;
  const dir = await mkdtemp(join(tmpdir(), 'pgwarden-waldump-'));
  try {
    for (const range of searchRanges(listing, options.candidates, options.endSegno)) {
      const path = timelinePath(listing, options.timeline, range.fromSegno);
      const missing = missingUpTo(listing, path, range.toSegno);
      if (missing.length > 0) {
        throw new PgwardenError('NotFound', `Cannot tell which base backup precedes ${what}: WAL segment ${missing[0]} is not archived, so the WAL after base backup ${range.backup.id} cannot be searched. Either ${suggest}.`);
      }
      const segments: SegmentRef[] = [];
      for (let segno = range.fromSegno; segno <= range.toSegno; segno += 1n) {
        const timeline = timelineOf(path, segno);
        segments.push({ timeline, segno, name: segmentName(timeline, segno, listing.segmentSize) });
      }
      if (read + segments.length > SEARCH_LIMIT) {
        throw new PgwardenError(
          'NotFound',
          `Cannot tell which base backup precedes ${what} without reading more than ${SEARCH_LIMIT} archived WAL segments (${read} read so far, back to base backup ${range.backup.id}): ${suggest}.`,
        );
      }
      const records = await searchSegments(options, dir, segments, target);
      read += segments.length;
      options.onProgress?.(read);
      const hit = records.find((r) => r.lsn >= parseLsn(range.backup.stopLsn));
      if (hit) return { backup: range.backup, lsn: hit.lsn, record: hit.record };
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const oldest = options.candidates[0]!;
  throw new PgwardenError(
    'NotFound',
    `${what} is not in the archived WAL on timeline ${options.timeline} from base backup ${oldest.id} (consistent at ${oldest.stopTime}) on: ` +
      `check the ${target.kind === 'name' ? 'name given to pg_create_restore_point()' : 'transaction id'}. If it is older than that base backup, nothing can be restored to it; ` +
      `if you know which base backup precedes it, ${suggest}.`,
  );
}

/** Runs pg_waldump over consecutive segments (in batches, overlapping by one so no record falls between two). */
async function searchSegments(
  options: { repo: Repository; database: string; keys: WalKeys; waldump: string },
  dir: string,
  segments: SegmentRef[],
  target: Extract<RecoveryTarget, { kind: 'xid' | 'name' }>,
): Promise<Array<{ lsn: bigint; record: string }>> {
  const found: Array<{ lsn: bigint; record: string }> = [];
  // pg_waldump reads one timeline at a time: runs of segments on one timeline, cut into batches.
  const runs: SegmentRef[][] = [];
  for (const segment of segments) {
    if (runs.at(-1)?.[0]!.timeline === segment.timeline) runs.at(-1)!.push(segment);
    else runs.push([segment]);
  }
  for (const run of runs) {
    for (let i = 0; i < run.length; i += BATCH) {
      const batch = run.slice(Math.max(0, i - 1), i + BATCH);
      await inParallel(batch, 4, async (segment) => {
        const bytes = await fetchWalBytes(options.repo, options.database, segment.name, options.keys);
        if (!bytes) throw new PgwardenError('NotFound', `WAL segment ${segment.name} disappeared from the archive while it was searched.`);
        writeFileSync(join(dir, segment.name), bytes);
      });
      const filter = target.kind === 'xid' ? ['--rmgr=Transaction', `--xid=${target.xid}`] : ['--rmgr=XLOG'];
      // It stops with an error where the last segment ends mid-record: what it printed before is what counts.
      const dump = await execa(options.waldump, [...filter, '--path', dir, batch[0]!.name, batch.at(-1)!.name], { reject: false, env: childEnvironment({ TZ: 'UTC' }), extendEnv: false });
      for (const line of dump.stdout.split('\n')) {
        const match = /lsn: ([0-9A-F]+\/[0-9A-F]+), prev [^,]+, desc: (.*)$/.exec(line);
        if (!match) continue;
        const record = match[2]!.trim();
        const hit = target.kind === 'xid' ? /^(COMMIT|ABORT)\b/.test(record) : record === `RESTORE_POINT ${target.name}`;
        if (hit) found.push({ lsn: parseLsn(match[1]!), record });
      }
      for (const segment of batch) rmSync(join(dir, segment.name), { force: true });
    }
  }
  return found.sort((a, b) => (a.lsn < b.lsn ? -1 : 1));
}
