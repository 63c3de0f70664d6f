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
  /** Last segment read on this timeline; undefined on the last hop (as far as the archive goes). */
  toSegno?: bigint;
}

/** `timeline`'s ancestors, oldest first, each with the LSN where it was left (none for timeline 1 or without a history file). */
export function ancestry(listing: ArchiveListing, timeline: number): TimelineSwitch[] {
  return [...(listing.histories.get(timeline) ?? [])].sort((a, b) => (a.switchLsn < b.switchLsn ? -1 : a.switchLsn > b.switchLsn ? 1 : 0));
}

/**
 * Whether `timeline`'s history passes through WAL written on `point.timeline` at `point.lsn`: it is that timeline,
 * or that timeline is an ancestor that was left at or after the point (a base backup consistent there can recover
 * along `timeline`).
 */
export function onHistory(listing: ArchiveListing, timeline: number, point: { timeline: number; lsn: bigint }): boolean {
  if (point.timeline === timeline) return true;
  const left = ancestry(listing, timeline).find((s) => s.parent === point.timeline);
  return left !== undefined && point.lsn <= left.switchLsn;
}

/**
 * The hops a recovery along `timeline` reads from segment `fromSegno` on: each ancestor up to the segment before it
 * was left, then `timeline` itself. The segment holding a switch is read from the new timeline (as PostgreSQL does:
 * it carries a copy of the old part).
 */
export function timelinePath(listing: ArchiveListing, timeline: number, fromSegno: bigint): PathHop[] {
  const hops: PathHop[] = [];
  let from = fromSegno;
  for (const step of ancestry(listing, timeline)) {
    const switchSegno = segnoOfLsn(step.switchLsn, listing.segmentSize);
    if (switchSegno <= from) continue; // left before this path starts
    hops.push({ timeline: step.parent, fromSegno: from, toSegno: switchSegno - 1n });
    from = switchSegno;
  }
  hops.push({ timeline, fromSegno: from });
  return hops;
}

/** The timeline segment `segno` is read from on `path`. */
export function timelineOf(path: PathHop[], segno: bigint): number {
  return (path.find((hop) => hop.toSegno === undefined || segno <= hop.toSegno) ?? path.at(-1)!).timeline;
}

export interface SegmentRef {
  timeline: number;
  segno: bigint;
  name: string;
}

/** How far the archived WAL along a path goes without a hole. */
export interface WalRun {
  /** Segments from the path's start to `last`. */
  count: number;
  /** The last segment before the first one missing (undefined when even the first is missing). */
  last?: SegmentRef;
  /** The first segment missing: a hole when `beyond` > 0, else where the archive ends. */
  next: SegmentRef;
  /** Segments archived on the path after `next`: WAL that recovery from this path's start cannot reach. */
  beyond: number;
}

export function walRun(listing: ArchiveListing, path: PathHop[]): WalRun {
  const ref = (segno: bigint): SegmentRef => {
    const timeline = timelineOf(path, segno);
    return { timeline, segno, name: segmentName(timeline, segno, listing.segmentSize) };
  };
  const has = (segno: bigint) => listing.segments.get(timelineOf(path, segno))?.has(segno) ?? false;
  let segno = path[0]!.fromSegno;
  let count = 0;
  while (has(segno)) {
    count += 1;
    segno += 1n;
  }
  let beyond = 0;
  for (const hop of path) {
    for (const archived of listing.segments.get(hop.timeline) ?? []) {
      if (archived > segno && archived >= hop.fromSegno && (hop.toSegno === undefined || archived <= hop.toSegno)) beyond += 1;
    }
  }
  return { count, ...(count > 0 ? { last: ref(segno - 1n) } : {}), next: ref(segno), beyond };
}

/** The segments on `path` from its start to `toSegno` (inclusive) that are not archived. */
export function missingUpTo(listing: ArchiveListing, path: PathHop[], toSegno: bigint): string[] {
  const missing: string[] = [];
  for (let segno = path[0]!.fromSegno; segno <= toSegno; segno += 1n) {
    const timeline = timelineOf(path, segno);
    if (!listing.segments.get(timeline)?.has(segno)) missing.push(segmentName(timeline, segno, listing.segmentSize));
  }
  return missing;
}

/** The timeline archived most recently (what the source writes on, when it cannot be asked). */
export function newestArchivedTimeline(listing: ArchiveListing): number | undefined {
  let newest: { timeline: number; at: number; name: string } | undefined;
  for (const file of listing.files) {
    const parsed = parseWalFileName(file.name, listing.segmentSize);
    if (parsed?.kind !== 'segment') continue;
    const at = file.modified?.getTime() ?? 0;
    if (!newest || at > newest.at || (at === newest.at && file.name > newest.name)) newest = { timeline: parsed.timeline, at, name: file.name };
  }
  return newest?.timeline;
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
