// The pure half of a point-in-time restore's plan: which timeline recovery follows, which base backups lie on it,
// which one precedes the target, which WAL must be archived for it (from the base backup to the target, no further),
// what is staged. No I/O: the pitr activities gather the facts (archive listing, base backups, the source's
// timeline, what pg_waldump found) and ask here; unit tests ask the same questions of made-up archives.
import { PgwardenError } from '../../domain/errors.js';
import type { BackupManifest } from '../catalog/manifest.js';
import { newestArchivedTimeline, onHistory, timelinePath, walRun, type ArchiveListing, type PathHop, type WalRun } from './coverage.js';
import { formatLsn, parseLsn, segmentName, segnoOfLsn } from './names.js';
import { describeTarget, epochMicros, type RecoveryTarget } from './target.js';

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

export interface TimelineChoice {
  timeline: number;
  /** Why, in words for the result and errors. */
  reason: string;
}

/** The timeline the source writes on: its own answer, else the timeline archived most recently. */
export function productionTimeline(listing: ArchiveListing, sourceTimeline: number | undefined): TimelineChoice {
  if (sourceTimeline !== undefined) return { timeline: sourceTimeline, reason: `the source's current timeline` };
  const newest = newestArchivedTimeline(listing);
  if (newest !== undefined) return { timeline: newest, reason: 'the timeline archived most recently (the source did not answer)' };
  return { timeline: 1, reason: 'nothing is archived yet' };
}

/**
 * The timeline recovery follows: the one asked for; else, from a given base backup, the source's timeline when it
 * descends from the backup after the backup became consistent, otherwise the backup's own; else the source's.
 * A timeline that branched off elsewhere (a test restore that archived here, then was dropped) is never followed
 * unless asked for.
 */
export function recoveryTimeline(
  listing: ArchiveListing,
  options: { explicit?: number | undefined; production: TimelineChoice; backup?: BaseBackupPoint | undefined },
): TimelineChoice {
  if (options.explicit !== undefined) return { timeline: options.explicit, reason: 'asked for' };
  const backup = options.backup;
  if (backup && !onHistory(listing, options.production.timeline, { timeline: backup.timeline, lsn: parseLsn(backup.stopLsn) })) {
    return { timeline: backup.timeline, reason: `base backup ${backup.id}'s own timeline (${options.production.reason}, ${options.production.timeline}, branched off elsewhere)` };
  }
  return options.production;
}

/** Whether a base backup can recover along `timeline`. */
export function backupOnTimeline(listing: ArchiveListing, timeline: number, backup: BaseBackupPoint): boolean {
  return onHistory(listing, timeline, { timeline: backup.timeline, lsn: parseLsn(backup.stopLsn) });
}

/** The newest base backup (of those on the timeline, oldest first) that is consistent before the target. */
export function chooseBaseBackup(candidates: BaseBackupPoint[], target: RecoveryTarget, targetLsn?: bigint): BaseBackupPoint | undefined {
  if (target.kind === 'time') return candidates.filter((b) => epochMicros(b.stopTime) <= epochMicros(target.time)).at(-1);
  if (target.kind === 'lsn') return candidates.filter((b) => parseLsn(b.stopLsn) <= parseLsn(target.lsn)).at(-1);
  if (targetLsn !== undefined) return candidates.filter((b) => parseLsn(b.stopLsn) <= targetLsn).at(-1);
  return candidates.at(-1);
}

/** Where a recovery from `backup` along `timeline` reads WAL, and how far it goes without a hole. */
export interface Reach {
  path: PathHop[];
  run: WalRun;
}

export function reachFrom(listing: ArchiveListing, timeline: number, backup: BaseBackupPoint): Reach {
  const path = timelinePath(listing, timeline, segnoOfLsn(parseLsn(backup.startLsn), listing.segmentSize));
  return { path, run: walRun(listing, path) };
}

/** The last segment recovery must read to reach the backup's consistency point. */
export function stopSegno(listing: ArchiveListing, backup: BaseBackupPoint): bigint {
  return segnoOfLsn(parseLsn(backup.stopLsn) - 1n, listing.segmentSize);
}

/** The LSN where a run of archived WAL ends (the end of its last segment). */
export function runEndLsn(listing: ArchiveListing, run: WalRun): bigint {
  return run.last ? (run.last.segno + 1n) * BigInt(listing.segmentSize) : 0n;
}

/**
 * Where to look for a restore point or a transaction, newest base backup first: from each one's consistency point
 * to the next one's (the newest: to `endSegno`). The first range that holds the target names the base backup.
 */
export function searchRanges(listing: ArchiveListing, candidates: BaseBackupPoint[], endSegno: bigint): Array<{ backup: BaseBackupPoint; fromSegno: bigint; toSegno: bigint }> {
  const ranges: Array<{ backup: BaseBackupPoint; fromSegno: bigint; toSegno: bigint }> = [];
  for (let i = candidates.length - 1; i >= 0; i -= 1) {
    const backup = candidates[i]!;
    const fromSegno = segnoOfLsn(parseLsn(backup.stopLsn), listing.segmentSize);
    const next = candidates[i + 1];
    const toSegno = next ? segnoOfLsn(parseLsn(next.stopLsn), listing.segmentSize) : endSegno;
    if (toSegno >= fromSegno) ranges.push({ backup, fromSegno, toSegno });
  }
  return ranges;
}

/**
 * Which archived WAL a target needs beyond the base backup's own: the segment that holds it, when that can be known
 * without reading WAL (an LSN, or a transaction or restore point pg_waldump found); undefined for a time or "latest".
 */
export function targetSegno(listing: ArchiveListing, target: RecoveryTarget, foundLsn?: bigint): bigint | undefined {
  if (target.kind === 'lsn') return segnoOfLsn(parseLsn(target.lsn), listing.segmentSize);
  if (foundLsn !== undefined) return segnoOfLsn(foundLsn, listing.segmentSize);
  return undefined;
}

export interface WalStage {
  files: string[]; // history files on the way, then segments from the backup's start on (the first STAGE_LIMIT)
  missing: string[]; // the first segment not archived and the first free timeline's history: answered "not archived"
}

/** Segments fetched ahead of recovery's start; the prefetcher of wal-fetch takes over after them. */
export const STAGE_LIMIT = 64;

export function historyFileName(timeline: number): string {
  return `${timeline.toString(16).toUpperCase().padStart(8, '0')}.history`;
}

/**
 * The timeline a promoted copy will take: PostgreSQL probes the history files after the one it recovered along
 * and takes the first that does not exist. Archived ones must be found, or two clusters would share a timeline.
 */
export function firstFreeTimeline(listing: ArchiveListing, timeline: number): number {
  let next = timeline + 1;
  while (listing.histories.has(next)) next += 1;
  return next;
}

/** What the restore fetches while the base backup streams, so recovery finds it on disk (and what is not archived). */
export function walStage(listing: ArchiveListing, timeline: number, reach: Reach, lastSegno?: bigint): WalStage {
  const files: string[] = [];
  const free = firstFreeTimeline(listing, timeline);
  for (const t of [...new Set(reach.path.map((hop) => hop.timeline))]) if (listing.histories.has(t)) files.push(historyFileName(t));
  for (let t = timeline + 1; t < free; t += 1) files.push(historyFileName(t));
  const end = reach.run.last ? (lastSegno !== undefined && lastSegno < reach.run.last.segno ? lastSegno : reach.run.last.segno) : -1n;
  for (let segno = reach.path[0]!.fromSegno; segno <= end && files.length < STAGE_LIMIT; segno += 1n) {
    const hop = reach.path.find((h) => h.toSegno === undefined || segno <= h.toSegno)!;
    files.push(segmentName(hop.timeline, segno, listing.segmentSize));
  }
  // On promotion PostgreSQL copies the history of the timeline it recovered along into the new one's, asking
  // restore_command for it even when that is timeline 1, which never has one: answered at once, not by a fetch.
  const parentOfNew = reach.path.at(-1)!.timeline;
  const noParentHistory = parentOfNew === 1 && !listing.histories.has(1) ? [historyFileName(1)] : [];
  return { files, missing: [reach.run.next.name, historyFileName(free), ...noParentHistory] };
}

/** The error for a base backup whose own WAL (start to consistency) is not all archived. */
export function backupWalMissing(database: string, backup: BaseBackupPoint, missing: string[]): PgwardenError {
  return new PgwardenError(
    'Integrity',
    `The archive lacks WAL that base backup ${backup.id} needs to become consistent: ${missing.slice(0, 3).join(', ')}${missing.length > 3 ? ` and ${missing.length - 3} more` : ''} missing. ` +
      `Check archive_command and \`pgwarden wal status --db ${database}\`; an older base backup may still cover your target (--backup).`,
  );
}

/** The error for a target that needs WAL the archive lacks between the base backup and the target. */
export function targetWalMissing(target: RecoveryTarget, backup: BaseBackupPoint, missing: string[], window: string): PgwardenError {
  return new PgwardenError(
    'NotFound',
    `${describeTarget(target)} cannot be reached from base backup ${backup.id}: WAL segment ${missing[0]}${missing.length > 1 ? ` (and ${missing.length - 1} more)` : ''} ` +
      `between it and the target is missing from the archive. ${window} A base backup taken after the hole can reach later targets.`,
  );
}

export function describeWindow(backup: BaseBackupPoint, to: string, listing: ArchiveListing, run: WalRun): string {
  return `Restore window from base backup ${backup.id}: ${backup.stopTime} to ${to} (LSN ${backup.stopLsn} to ${formatLsn(runEndLsn(listing, run))}).`;
}
