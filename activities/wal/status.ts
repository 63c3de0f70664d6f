// What a database's WAL archive holds and what it allows: range, gaps, age of the newest WAL (the current RPO)
// and the restore window that base backups plus WAL give.
import { databaseView } from '../../config/load.js';
import type { Config } from '../../config/schema.js';
import { listBackups } from '../catalog/list.js';
import { readArchiveIdentity, type ArchiveIdentity } from './archive.js';
import { closedAt, coverage, gaps, listArchive, recoveryPath } from './coverage.js';
import { formatLsn, parseLsn, segmentName, segnoOfLsn } from './names.js';
import { openArchive, walRepositoryName } from './open.js';

export interface WalStatus {
  database: string;
  repository: string;
  location: string;
  identity?: ArchiveIdentity;
  files: number;
  storedBytes: number;
  timelines: Array<{ timeline: number; first: string; last: string; segments: number }>;
  gaps: string[];
  newest?: { name: string; closedAt: string; ageMs: number };
  rpoMs?: number;
  withinRpo?: boolean;
  baseBackups: Array<{ id: string; stopTime: string; stopLsn: string; timeline: number; restorable: boolean; reachesTo?: string }>;
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
  const newestName = [...listing.files].filter((f) => /^[0-9A-F]{24}$/.test(f.name)).sort((a, b) => a.name.localeCompare(b.name)).at(-1)?.name;
  const newestAt = newestName ? await closedAt(repo, database, newestName) : undefined;
  const newest = newestName && newestAt ? { name: newestName, closedAt: newestAt.toISOString(), ageMs: Date.now() - newestAt.getTime() } : undefined;

  const baseBackups: WalStatus['baseBackups'] = [];
  let window: WalStatus['window'];
  for (const backup of await listBackups(repo, database, 'base')) {
    const base = backup.base!;
    const path = recoveryPath(listing, base.timeline, segnoOfLsn(parseLsn(base.startLsn), listing.segmentSize));
    const cov = coverage(listing, path);
    const stopSegno = segnoOfLsn(parseLsn(base.stopLsn) - 1n, listing.segmentSize);
    const restorable = cov.missing.length === 0 && cov.last !== undefined && (cov.last.timeline !== base.timeline || cov.last.segno >= stopSegno);
    const end = restorable && cov.last ? await closedAt(repo, database, cov.last.name) : undefined;
    baseBackups.push({ id: backup.id, stopTime: base.stopTime, stopLsn: base.stopLsn, timeline: base.timeline, restorable, ...(end ? { reachesTo: end.toISOString() } : {}) });
    if (restorable && cov.last && end && !window) {
      window = { from: base.stopTime, to: end.toISOString(), fromLsn: base.stopLsn, toLsn: formatLsn((cov.last.segno + 1n) * BigInt(listing.segmentSize)) };
    }
  }
  return {
    database,
    repository: walRepositoryName(config, database),
    location: repo.location,
    ...(identity ? { identity } : {}),
    files: listing.files.length,
    storedBytes: listing.files.reduce((sum, f) => sum + f.size, 0),
    timelines,
    gaps: gaps(listing),
    ...(newest ? { newest } : {}),
    ...(db.rpoMs !== undefined ? { rpoMs: db.rpoMs } : {}),
    ...(newest && db.rpoMs !== undefined ? { withinRpo: newest.ageMs <= db.rpoMs } : {}),
    baseBackups,
    ...(window ? { window } : {}),
  };
}
