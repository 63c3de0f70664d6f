// What the WAL archive covers: segments per timeline, gaps, the timeline a recovery follows, and how far
// the WAL from a base backup onwards reaches without a hole.
import type { WalKeys } from '../keys/wal-keys.js';
import { withListingProgress } from '../progress.js';
import type { Repository } from '../storage/repository.js';
import { fetchWalBytes, readArchiveIdentity, walFolder, walKey, walNameOfKey } from './archive.js';
import { DEFAULT_SEGMENT_SIZE, parseHistory, parseWalFileName, segmentName, segnoOfLsn, type TimelineSwitch } from './names.js';

export interface ArchiveListing {
  segmentSize: number;
  /** Segment numbers archived, per timeline. */
  segments: Map<number, Set<bigint>>;
  /** Timeline -> its ancestors and the LSNs where each was left. */
  histories: Map<number, TimelineSwitch[]>;
  /** Every WAL file name with its size and write time, for retention and status. */
  files: Array<{ name: string; key: string; size: number; modified?: Date }>;
}

export async function listArchive(repo: Repository, database: string, keys: WalKeys): Promise<ArchiveListing> {
  const identity = await readArchiveIdentity(repo, database);
  const segmentSize = identity?.segmentSize || DEFAULT_SEGMENT_SIZE;
  const segments = new Map<number, Set<bigint>>();
  const files: ArchiveListing['files'] = [];
  const historyNames: string[] = [];
  for await (const object of withListingProgress(repo.list(walFolder(database)), 'listing the WAL archive')) {
    const name = walNameOfKey(database, object.key);
    if (!name) continue;
    files.push({ name, key: object.key, size: object.size, ...(object.modified ? { modified: object.modified } : {}) });
    const parsed = parseWalFileName(name, segmentSize);
    if (parsed?.kind === 'segment') {
      if (!segments.has(parsed.timeline)) segments.set(parsed.timeline, new Set());
      segments.get(parsed.timeline)!.add(parsed.segno!);
    } else if (parsed?.kind === 'history') historyNames.push(name);
  }
  const histories = new Map<number, TimelineSwitch[]>();
  for (const name of historyNames) {
    const bytes = await fetchWalBytes(repo, database, name, keys);
    if (bytes) histories.set(parseWalFileName(name)!.timeline, parseHistory(bytes.toString('utf8')));
  }
  return { segmentSize, segments, histories, files };
}

export interface PathHop {
  timeline: number;
  fromSegno: bigint;
  /** Last segment needed on this timeline; undefined on the last hop (as far as the archive goes). */
  toSegno?: bigint;
}

/**
 * The timeline recovery_target_timeline = 'latest' ends on (as PostgreSQL finds it: history files numbered on
 * from the backup's timeline) and the hops from the backup's start segment to it.
 */
export function recoveryPath(listing: ArchiveListing, backupTimeline: number, startSegno: bigint): PathHop[] {
  let target = backupTimeline;
  while (listing.histories.has(target + 1)) target += 1;
  while (target > backupTimeline && !(listing.histories.get(target) ?? []).some((s) => s.parent === backupTimeline)) target -= 1;
  if (target === backupTimeline) return [{ timeline: backupTimeline, fromSegno: startSegno }];
  // The target's history lists its ancestors in order, each with the LSN where the next timeline began.
  const ancestry = listing.histories.get(target)!.filter((s) => s.parent >= backupTimeline);
  const hops: PathHop[] = [];
  let from = startSegno;
  for (const step of ancestry) {
    const switchSegno = segnoOfLsn(step.switchLsn, listing.segmentSize);
    // The segment holding the switch is read from the new timeline (it carries a copy of the old part).
    hops.push({ timeline: step.parent, fromSegno: from, toSegno: switchSegno - 1n });
    from = switchSegno;
  }
  hops.push({ timeline: target, fromSegno: from });
  return hops;
}

export interface Coverage {
  /** Each segment along the path that is missing, up to the end of the contiguous run. */
  missing: string[];
  /** The last segment that follows without a hole (undefined if even the first is missing). */
  last?: { timeline: number; segno: bigint; name: string };
  /** Segments from the start to `last`: what recovery would fetch. */
  count: number;
}

/** How far the WAL from `path`'s start is contiguous; a hole before the last hop's start is reported as missing. */
export function coverage(listing: ArchiveListing, path: PathHop[]): Coverage {
  const missing: string[] = [];
  let last: Coverage['last'];
  let count = 0;
  for (const hop of path) {
    const have = listing.segments.get(hop.timeline) ?? new Set<bigint>();
    const end = hop.toSegno;
    for (let segno = hop.fromSegno; end === undefined || segno <= end; segno += 1n) {
      if (!have.has(segno)) {
        if (end !== undefined) missing.push(segmentName(hop.timeline, segno, listing.segmentSize));
        break;
      }
      last = { timeline: hop.timeline, segno, name: segmentName(hop.timeline, segno, listing.segmentSize) };
      count += 1;
    }
    if (missing.length > 0) break;
  }
  if (missing.length === 0 && path.length > 0 && count === 0) {
    missing.push(segmentName(path[0]!.timeline, path[0]!.fromSegno, listing.segmentSize));
  }
  return { missing, ...(last ? { last } : {}), count };
}

/** Every hole inside the archived range of each timeline (what `wal status` reports). */
export function gaps(listing: ArchiveListing): string[] {
  const holes: string[] = [];
  for (const [timeline, set] of listing.segments) {
    const sorted = [...set].sort((a, b) => (a < b ? -1 : 1));
    for (let i = 1; i < sorted.length; i += 1) {
      for (let segno = sorted[i - 1]! + 1n; segno < sorted[i]!; segno += 1n) {
        holes.push(segmentName(timeline, segno, listing.segmentSize));
        if (holes.length > 100) return holes;
      }
    }
  }
  return holes;
}

/** When segment `name` was closed (recorded by wal-push), else when it was written to the repository. */
export async function closedAt(repo: Repository, database: string, name: string): Promise<Date | undefined> {
  const head = await repo.head(walKey(database, name));
  const recorded = head?.metadata?.['closed-at'];
  return recorded ? new Date(recorded) : head?.modified;
}
