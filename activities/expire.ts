// Retention: which backups and which WAL may go, decided from the repository alone, then deleted. The plan is
// an activity result, so the workflow's history says exactly what was removed and why.
import { databaseView } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { BACKUP_KINDS, type BackupKind } from '../workflows/kinds.js';
import { scanBackups } from './catalog/list.js';
import { warn } from './progress.js';
import { backupFolder, MANIFEST_FILE, type BackupManifest } from './catalog/manifest.js';
import { currentReporter, withListingProgress } from './progress.js';
import { openRepository } from './storage/open.js';
import type { Repository } from './storage/repository.js';
import { walFolder, walNameOfKey } from './wal/archive.js';
import { parseLsn, parseWalFileName, segnoOfLsn } from './wal/names.js';
import { readArchiveIdentity } from './wal/archive.js';
import { walRepositoryName } from './wal/open.js';

export interface ExpiryPlan {
  database: string;
  /** Logical backups to delete, per repository, with the rule that expired them. */
  logical: Array<{ repository: string; id: string; kind: string; finishedAt: string; rule: string }>;
  /** Base backups to delete (older than the PITR window and not needed to reach its start). */
  base: Array<{ repository: string; id: string; stopTime: string }>;
  /** WAL files before the oldest kept base backup's start. */
  wal: { repository: string; count: number; bytes: number; first?: string; last?: string; keepFrom?: string; keepFromSegno?: string; segmentSize: number };
  kept: { logical: number; base: number };
  /** Due, but still under S3 Object Lock: skipped now, removed by a later run once their date has passed. */
  locked: Array<{ repository: string; what: string; until?: string }>;
  /** Backups whose manifest cannot be used (broken, or from a newer pgwarden): never removed here, only reported. */
  damaged: Array<{ repository: string; type: 'logical' | 'base'; id: string; reason: string }>;
}

export function expireActivities(config: Config) {
  return {
    async planExpiry(input: { database: string; nowMs: number }): Promise<ExpiryPlan> {
      return planExpiry(config, input.database, input.nowMs);
    },
    /** Deletes what the plan names: manifests first, so an interrupted delete leaves nothing that looks restorable. */
    async applyExpiry(plan: ExpiryPlan): Promise<{ deletedObjects: number; locked: ExpiryPlan['locked'] }> {
      const reporter = currentReporter();
      let deleted = 0;
      const locked: ExpiryPlan['locked'] = [];
      const removeFolder = async (repo: Repository, folder: string) => {
        const manifest = await repo.delete([`${folder}${MANIFEST_FILE}`]);
        if (manifest.locked.length > 0) {
          locked.push({ repository: repo.name, what: folder }); // locked since the plan: leave the backup whole
          return;
        }
        const keys: string[] = [];
        for await (const object of repo.list(folder)) keys.push(object.key);
        const outcome = await repo.delete(keys);
        for (const key of outcome.locked) locked.push({ repository: repo.name, what: key });
        deleted += keys.length + 1 - outcome.locked.length;
        reporter.report({ phase: 'deleting', bytesDone: 0, itemsDone: deleted });
      };
      for (const item of plan.logical) await removeFolder(openRepository(config, item.repository), backupFolder(plan.database, 'logical', item.id));
      for (const item of plan.base) await removeFolder(openRepository(config, item.repository), backupFolder(plan.database, 'base', item.id));
      if (plan.wal.keepFromSegno !== undefined && plan.wal.count > 0) {
        // Listed again rather than carried in the plan: a week of WAL can be tens of thousands of names.
        const repo = openRepository(config, plan.wal.repository);
        const expired = await expiredWal(repo, plan.database, BigInt(plan.wal.keepFromSegno), plan.wal.segmentSize);
        // In slices of one delete request each, with a heartbeat after every one.
        const walLocked: string[] = [];
        for (let i = 0; i < expired.length; i += 1000) {
          const slice = expired.slice(i, i + 1000);
          const outcome = await repo.delete(slice.map((e) => e.key));
          walLocked.push(...outcome.locked);
          deleted += slice.length - outcome.locked.length;
          reporter.report({ phase: 'deleting WAL', bytesDone: 0, itemsDone: deleted });
        }
        if (walLocked.length > 0) locked.push({ repository: plan.wal.repository, what: `${walLocked.length} WAL file(s), first ${walLocked.sort()[0]}` });
      }
      return { deletedObjects: deleted, locked: [...plan.locked, ...locked] };
    },
  };
}

async function planExpiry(config: Config, database: string, nowMs: number): Promise<ExpiryPlan> {
  const db = databaseView(config, database);
  const logical: ExpiryPlan['logical'] = [];
  const locked: ExpiryPlan['locked'] = [];
  let keptLogical = 0;
  const damaged: ExpiryPlan['damaged'] = [];
  const scan = async (repository: string, type: 'logical' | 'base') => {
    const found = await scanBackups(openRepository(config, repository), database, type);
    for (const d of found.damaged) {
      warn(`retention of "${database}" keeps ${type} backup ${d.id} in "${repository}" without reading it: ${d.reason}`);
      damaged.push({ repository, type, id: d.id, reason: d.reason });
    }
    return found.backups;
  };
  for (const repository of db.allRepositories) {
    const repo = openRepository(config, repository);
    const backups = await scan(repository, 'logical');
    const newest = backups.at(-1)?.id;
    for (const backup of backups) {
      const keepMs = db.retentionFor(BACKUP_KINDS.includes(backup.kind as BackupKind) ? (backup.kind as BackupKind) : 'manual');
      const age = nowMs - Date.parse(backup.finishedAt);
      const until = age > keepMs && backup.id !== newest ? await lockedUntil(repo, backupFolder(database, 'logical', backup.id), nowMs) : undefined;
      if (until) {
        locked.push({ repository, what: `logical backup ${backup.id}`, until });
        keptLogical += 1;
      } else if (age > keepMs && backup.id !== newest) {
        logical.push({ repository, id: backup.id, kind: backup.kind, finishedAt: backup.finishedAt, rule: `${backup.kind} backups are kept ${Math.round(keepMs / 86_400_000)} days` });
      } else keptLogical += 1;
    }
  }

  // PITR: every moment of the window must stay restorable, so keep the base backups inside it and the newest
  // one before it (it covers the window's start), and every WAL file from the oldest kept one's start on.
  const walRepository = walRepositoryName(config, database);
  const repo = openRepository(config, walRepository);
  const bases = await scan(walRepository, 'base');
  const windowMs = db.settings.pitr?.retention ?? 7 * 86_400_000;
  const cutoff = nowMs - windowMs;
  const inside = bases.filter((b) => Date.parse(b.base!.stopTime) >= cutoff);
  const before = bases.filter((b) => Date.parse(b.base!.stopTime) < cutoff);
  const keptBase: BackupManifest[] = [...(before.length ? [before.at(-1)!] : []), ...inside];
  const base: ExpiryPlan['base'] = [];
  for (const b of bases.filter((b) => !keptBase.includes(b))) {
    const until = await lockedUntil(repo, backupFolder(database, 'base', b.id), nowMs);
    if (until) locked.push({ repository: walRepository, what: `base backup ${b.id}`, until });
    else base.push({ repository: walRepository, id: b.id, stopTime: b.base!.stopTime });
  }

  const segmentSize = (await readArchiveIdentity(repo, database))?.segmentSize || 16 * 1024 * 1024;
  const wal: ExpiryPlan['wal'] = { repository: walRepository, count: 0, bytes: 0, segmentSize };
  if (keptBase.length > 0) {
    const starts = keptBase.map((b) => ({ segno: segnoOfLsn(parseLsn(b.base!.startLsn), segmentSize), wal: b.base!.startWal }));
    const oldest = starts.reduce((min, s) => (s.segno < min.segno ? s : min));
    wal.keepFrom = oldest.wal;
    wal.keepFromSegno = oldest.segno.toString();
    const expired = await expiredWal(repo, database, oldest.segno, segmentSize);
    wal.count = expired.length;
    wal.bytes = expired.reduce((sum, e) => sum + e.size, 0);
    if (expired.length) {
      wal.first = expired[0]!.name;
      wal.last = expired.at(-1)!.name;
    }
  }
  return { database, logical, base, wal, kept: { logical: keptLogical, base: keptBase.length + locked.filter((l) => l.what.startsWith('base')).length }, locked, damaged };
}

/** When a backup's manifest is under S3 Object Lock past `nowMs` (a backup's objects share one date): that date. */
async function lockedUntil(repo: Repository, folder: string, nowMs: number): Promise<string | undefined> {
  const until = (await repo.head(`${folder}${MANIFEST_FILE}`))?.retainUntil;
  return until && until.getTime() > nowMs ? until.toISOString() : undefined;
}

/** WAL files positioned before `keepFrom` on any timeline (history files always stay). */
async function expiredWal(repo: Repository, database: string, keepFrom: bigint, segmentSize: number): Promise<Array<{ name: string; key: string; size: number }>> {
  const expired: Array<{ name: string; key: string; size: number }> = [];
  for await (const object of withListingProgress(repo.list(walFolder(database)), 'listing the WAL archive')) {
    const name = walNameOfKey(database, object.key);
    const parsed = name ? parseWalFileName(name, segmentSize) : undefined;
    // History files stay: they are tiny, and recovery needs them to follow timelines.
    if (!parsed || parsed.kind === 'history' || parsed.segno === undefined || parsed.segno >= keepFrom) continue;
    expired.push({ name: name!, key: object.key, size: object.size });
  }
  return expired.sort((a, b) => a.name.localeCompare(b.name));
}
