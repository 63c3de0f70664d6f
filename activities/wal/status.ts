// What a database's WAL archive holds and what it allows: range, gaps, the timeline the source writes on now and
// the age of the newest WAL archived on it (the current RPO), and the restore window that base backups plus WAL give.
import { databaseView } from '../../config/load.js';
import type { Config } from '../../config/schema.js';
import { listBackups } from '../catalog/list.js';
import { readArchiveIdentity, type ArchiveIdentity } from './archive.js';
import { closedAt, gaps, listArchive, missingUpTo } from './coverage.js';
import { formatLsn, segmentName } from './names.js';
import { openArchive, walRepositoryName } from './open.js';
import { backupOnTimeline, baseBackupPoint, productionTimeline, reachFrom, runEndLsn, stopSegno } from './plan.js';
import { sourceNow } from './source.js';

export interface WalStatus {
  database: string;
  repository: string;
  location: string;
  identity?: ArchiveIdentity;
  files: number;
  storedBytes: number;
  timelines: Array<{ timeline: number; first: string; last: string; segments: number }>;
  gaps: string[];
  /** Where the source writes now, when it answers (else `sourceError` says why). */
  source?: { timeline?: number; walFile?: string };
  sourceError?: string;
  /** The timeline the newest WAL, the RPO and the restore window are measured on, and why that one. */
  timeline: { timeline: number; reason: string };
  /** The newest segment archived on that timeline. */
  newest?: { name: string; closedAt: string; ageMs: number };
  rpoMs?: number;
  withinRpo?: boolean;
  baseBackups: Array<{ id: string; stopTime: string; stopLsn: string; timeline: number; onTimeline: boolean; restorable: boolean; reachesTo?: string }>;
  /**
   * The stretches a restore can reach, oldest first: each from a base backup's consistency to where the WAL after it
   * ends (a hole, or the newest segment); stretches that touch are one. A hole with no base backup after it before
   * the next stretch leaves a gap between two of them that nothing can restore to.
   */
  ranges: Array<{ from: string; to: string; fromLsn: string; toLsn: string }>;
  /** The newest of `ranges`: what can be restored to without a gap, up to the newest point reachable. */
  window?: { from: string; to: string; fromLsn: string; toLsn: string };
}

export async function walStatus(config: Config, database: string): Promise<WalStatus> {
  const db = databaseView(config, database);
  const { repo, keys } = openArchive(config, database);
  const listing = await listArchive(repo, database, keys).finally(() => keys.close());
  const identity = await readArchiveIdentity(repo, database);
  const timelines = [...listing.segments.entries()]
    .sort(([a], [b]) => a - b)
    .map(([timeline, set]) => {
      const sorted = [...set].sort((a, b) => (a < b ? -1 : 1));
      return { timeline, first: segmentName(timeline, sorted[0]!, listing.segmentSize), last: segmentName(timeline, sorted.at(-1)!, listing.segmentSize), segments: sorted.length };
    });
  const asked = await sourceNow(config, database);
  const measured = productionTimeline(listing, asked.source?.timeline);
  const newestName = timelines.find((t) => t.timeline === measured.timeline)?.last;
  const newestAt = newestName ? await closedAt(repo, database, newestName) : undefined;
  const newest = newestName && newestAt ? { name: newestName, closedAt: newestAt.toISOString(), ageMs: Date.now() - newestAt.getTime() } : undefined;

  const baseBackups: WalStatus['baseBackups'] = [];
  const reachable: WalStatus['ranges'] = [];
  for (const manifest of await listBackups(repo, database, 'base')) {
    const backup = baseBackupPoint(manifest);
    const onTimeline = backupOnTimeline(listing, measured.timeline, backup);
    const reach = reachFrom(listing, onTimeline ? measured.timeline : backup.timeline, backup);
    const restorable = reach.run.last !== undefined && missingUpTo(listing, reach.path, stopSegno(listing, backup)).length === 0;
    const end = restorable ? await closedAt(repo, database, reach.run.last!.name) : undefined;
    const reachesTo = end ? new Date(Math.max(end.getTime(), Date.parse(backup.stopTime))).toISOString() : undefined;
    baseBackups.push({ id: backup.id, stopTime: backup.stopTime, stopLsn: backup.stopLsn, timeline: backup.timeline, onTimeline, restorable, ...(reachesTo ? { reachesTo } : {}) });
    if (onTimeline && restorable && reachesTo) reachable.push({ from: backup.stopTime, to: reachesTo, fromLsn: backup.stopLsn, toLsn: formatLsn(runEndLsn(listing, reach.run)) });
  }
  const ranges = joinRanges(reachable);
  const window = ranges.at(-1);
  return {
    database,
    repository: walRepositoryName(config, database),
    location: repo.location,
    ...(identity ? { identity } : {}),
    files: listing.files.length,
    storedBytes: listing.files.reduce((sum, f) => sum + f.size, 0),
    timelines,
    gaps: gaps(listing),
    ...(asked.source ? { source: { ...(asked.source.timeline !== undefined ? { timeline: asked.source.timeline } : {}), ...(asked.source.walFile ? { walFile: asked.source.walFile } : {}) } } : {}),
    ...(asked.error ? { sourceError: asked.error } : {}),
    timeline: measured,
    ...(newest ? { newest } : {}),
    ...(db.rpoMs !== undefined ? { rpoMs: db.rpoMs } : {}),
    ...(db.rpoMs !== undefined ? { withinRpo: newest !== undefined && newest.ageMs <= db.rpoMs } : {}),
    baseBackups,
    ranges,
    ...(window ? { window } : {}),
  };
}

/** Stretches sorted by their start, those that overlap or touch joined into one. */
function joinRanges(ranges: WalStatus['ranges']): WalStatus['ranges'] {
  const joined: WalStatus['ranges'] = [];
  for (const range of [...ranges].sort((a, b) => Date.parse(a.from) - Date.parse(b.from))) {
    const last = joined.at(-1);
    if (last && Date.parse(range.from) <= Date.parse(last.to)) {
      if (Date.parse(range.to) > Date.parse(last.to)) joined[joined.length - 1] = { ...last, to: range.to, toLsn: range.toLsn };
    } else {
      joined.push(range);
    }
  }
  return joined;
}
