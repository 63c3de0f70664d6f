// The pure half of a point-in-time restore's plan: which base backup, which WAL along which timelines, what must be
// staged, how far the archive reaches. No I/O: the pitr activities gather the facts (archive listing, base backups,
// times) and ask here; unit tests ask the same questions of made-up archives.
import type { BackupManifest } from '../catalog/manifest.js';
import { coverage, recoveryPath, type ArchiveListing, type Coverage, type PathHop } from './coverage.js';
import { parseLsn, segmentName, segnoOfLsn } from './names.js';
import type { RecoveryTarget } from './target.js';

/** What the planner needs of a base backup's manifest. */
export interface BaseBackupPoint {
  id: string;
  timeline: number;
  startLsn: string;
  stopLsn: string; // consistent from here on
  stopTime: string;
}

export function baseBackupPoint(manifest: BackupManifest): BaseBackupPoint {
  const base = manifest.base!;
  return { id: manifest.id, timeline: base.timeline, startLsn: base.startLsn, stopLsn: base.stopLsn, stopTime: base.stopTime };
}

/** The newest base backup consistent before the target (oldest first in, undefined when none is). */
export function chooseBaseBackup(backups: BaseBackupPoint[], target: RecoveryTarget): BaseBackupPoint | undefined {
  if (target.kind === 'time') return backups.filter((b) => Date.parse(b.stopTime) <= Date.parse(target.time)).at(-1);
  if (target.kind === 'lsn') return backups.filter((b) => parseLsn(b.stopLsn) <= parseLsn(target.lsn)).at(-1);
  return backups.at(-1);
}

/** The archive's reach from one base backup: the timelines recovery follows and how far the WAL goes without a hole. */
export interface Reach {
  path: PathHop[];
  coverage: Coverage;
  /** Every segment the backup itself needs (start to stop) is archived. */
  usable: boolean;
}

export function reachFrom(listing: ArchiveListing, backup: BaseBackupPoint): Reach {
  const startSegno = segnoOfLsn(parseLsn(backup.startLsn), listing.segmentSize);
  const stopSegno = segnoOfLsn(parseLsn(backup.stopLsn) - 1n, listing.segmentSize);
  const path = recoveryPath(listing, backup.timeline, startSegno);
  const cov = coverage(listing, path);
  const usable = cov.missing.length === 0 && cov.last !== undefined && (cov.last.timeline !== backup.timeline || cov.last.segno >= stopSegno);
  return { path, coverage: cov, usable };
}

/** The LSN where the archived WAL ends (the end of the last contiguous segment). */
export function archivedEndLsn(listing: ArchiveListing, last: { segno: bigint }): bigint {
  return (last.segno + 1n) * BigInt(listing.segmentSize);
}

export interface WalStage {
  files: string[]; // segments from the backup's start on (the first STAGE_LIMIT) and the history files on the way
  missing: string[]; // the segment after the archive's end and the next timeline's history: answered "not archived"
}

/** Segments fetched ahead of recovery's start; the prefetcher of wal-fetch takes over after them. */
export const STAGE_LIMIT = 64;

export function historyFileName(timeline: number): string {
  return `${timeline.toString(16).toUpperCase().padStart(8, '0')}.history`;
}

/** What the restore fetches while the base backup streams, so recovery finds it on disk (and what is not archived). */
export function walStage(listing: ArchiveListing, reach: Reach): WalStage {
  const last = reach.coverage.last!;
  const files: string[] = [];
  for (const timeline of new Set(reach.path.map((hop) => hop.timeline))) {
    if (listing.histories.has(timeline)) files.push(historyFileName(timeline));
  }
  walk: for (const hop of reach.path) {
    for (let segno = hop.fromSegno; hop.toSegno === undefined ? segno <= (hop.timeline === last.timeline ? last.segno : -1n) : segno <= hop.toSegno; segno += 1n) {
      if (files.length >= STAGE_LIMIT) break walk;
      files.push(segmentName(hop.timeline, segno, listing.segmentSize));
    }
  }
  const finalTimeline = reach.path.at(-1)!.timeline;
  return { files, missing: [segmentName(last.timeline, last.segno + 1n, listing.segmentSize), historyFileName(finalTimeline + 1)] };
}
