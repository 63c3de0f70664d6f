// Planning retention: which logical backups their kind's retention lets go, which base backups and WAL the PITR
// window no longer needs, what leases and Object Lock keep, and folders of backups that never finished.
import { formatRetention } from '../../domain/format.js';
import { BACKUP_KINDS, type BackupKind } from '../../domain/kinds.js';
import { scanBackups } from '../catalog/list.js';
import { backupFolder, MANIFEST_FILE, type BackupManifest } from '../catalog/manifest.js';
import { backupKey, heldBackups } from '../catalog/leases.js';
import type { DatabaseContext } from '../database-context.js';
import { warn, withListingProgress } from '../progress.js';
import type { Repository, StoredObject } from '../storage/repository.js';
import { readArchiveIdentity, walFolder, walNameOfKey } from '../wal/archive.js';
import { parseLsn, parseWalFileName, segnoOfLsn } from '../wal/names.js';
import { temporalRunCheck } from '../workflow-runs.js';
import { ABANDONED_AFTER_MS, type ExpiryPlan } from './inputs.js';

export async function planExpiry(db: DatabaseContext, nowMs: number): Promise<ExpiryPlan> {
  const database = db.name;
  const runIsOpen = temporalRunCheck();
  const logical: ExpiryPlan['logical'] = [];
  const locked: ExpiryPlan['locked'] = [];
  const held: ExpiryPlan['held'] = [];
  const abandoned: ExpiryPlan['abandoned'] = [];
  let keptLogical = 0;
  const damaged: ExpiryPlan['damaged'] = [];
  const scan = async (repository: string, type: 'logical' | 'base') => {
    const found = await scanBackups(db.repository(repository), database, type);
    for (const d of found.damaged) {
      warn(`retention of "${database}" keeps ${type} backup ${d.id} in "${repository}" without reading it: ${d.reason}`);
      damaged.push({ repository, type, id: d.id, reason: d.reason });
    }
    return found.backups;
  };
  for (const repository of db.view.allRepositories) {
    const repo = db.repository(repository);
    const backups = await scan(repository, 'logical');
    const inUse = (await heldBackups(repo, database, nowMs, runIsOpen)).held;
    abandoned.push(...(await abandonedFolders(repo, database, 'logical', backups, nowMs)));
    const newest = backups.at(-1)?.id;
    for (const backup of backups) {
      const keepMs = db.view.retentionFor(BACKUP_KINDS.includes(backup.kind as BackupKind) ? (backup.kind as BackupKind) : 'manual');
      const age = nowMs - Date.parse(backup.finishedAt);
      const by = age > keepMs && backup.id !== newest ? inUse.get(backupKey({ type: 'logical', id: backup.id })) : undefined;
      const until = age > keepMs && backup.id !== newest && !by ? await lockedUntil(repo, backupFolder(database, 'logical', backup.id), nowMs) : undefined;
      if (by) {
        held.push({ repository, type: 'logical', id: backup.id, by });
        keptLogical += 1;
      } else if (until) {
        locked.push({ repository, what: `logical backup ${backup.id}`, until });
        keptLogical += 1;
      } else if (age > keepMs && backup.id !== newest) {
        logical.push({ repository, id: backup.id, kind: backup.kind, finishedAt: backup.finishedAt, rule: `${backup.kind} backups are kept ${formatRetention(keepMs)}` });
      } else keptLogical += 1;
    }
  }

  // PITR: every moment of the window must stay restorable, so keep the base backups inside it and the newest
  // one before it (it covers the window's start), and every WAL file from the oldest kept one's start on.
  const walRepository = db.walRepository;
  const repo = db.repository(walRepository);
  const bases = await scan(walRepository, 'base');
  abandoned.push(...(await abandonedFolders(repo, database, 'base', bases, nowMs)));
  const windowMs = db.settings.pitr?.retention ?? 7 * 86_400_000;
  const cutoff = nowMs - windowMs;
  const inside = bases.filter((b) => Date.parse(b.base!.stopTime) >= cutoff);
  const before = bases.filter((b) => Date.parse(b.base!.stopTime) < cutoff);
  // A base backup a PITR (or drill) is reading stays, and with it the WAL from its start on.
  const inUse = (await heldBackups(repo, database, nowMs, runIsOpen)).held;
  const readers = before.slice(0, -1).filter((b) => inUse.has(backupKey({ type: 'base', id: b.id })));
  held.push(...readers.map((b) => ({ repository: walRepository, type: 'base' as const, id: b.id, by: inUse.get(backupKey({ type: 'base', id: b.id }))! })));
  const keptBase: BackupManifest[] = [...readers, ...(before.length ? [before.at(-1)!] : []), ...inside];
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
  return { database, logical, base, wal, kept: { logical: keptLogical, base: keptBase.length + locked.filter((l) => l.what.startsWith('base')).length }, locked, held, abandoned, damaged };
}

/** Folders of `type` without a manifest, whose newest object is older than ABANDONED_AFTER_MS. */
async function abandonedFolders(repo: Repository, database: string, type: 'logical' | 'base', complete: BackupManifest[], nowMs: number): Promise<ExpiryPlan['abandoned']> {
  const found: ExpiryPlan['abandoned'] = [];
  const ids = new Set(complete.map((b) => b.id));
  for (const folder of await repo.listFolders(`${database}/${type}/`)) {
    const id = folder.slice(`${database}/${type}/`.length).replace(/\/$/, '');
    if (ids.has(id)) continue;
    const objects = await folderObjects(repo, folder);
    // A manifest that cannot be read is damaged, not missing: that folder is for a person to look at.
    if (objects.some((o) => o.key.endsWith(`/${MANIFEST_FILE}`)) || objects.length === 0) continue;
    const lastWritten = Math.max(...objects.map((o) => o.modified?.getTime() ?? nowMs));
    if (nowMs - lastWritten < ABANDONED_AFTER_MS) continue; // perhaps a backup still being written
    found.push({ repository: repo.name, type, id, objects: objects.length, bytes: objects.reduce((sum, o) => sum + o.size, 0), lastWrittenAt: new Date(lastWritten).toISOString() });
  }
  return found;
}

export async function isAbandoned(repo: Repository, folder: string, nowMs: number): Promise<boolean> {
  const objects = await folderObjects(repo, folder);
  if (objects.length === 0 || objects.some((o) => o.key.endsWith(`/${MANIFEST_FILE}`))) return false;
  return nowMs - Math.max(...objects.map((o) => o.modified?.getTime() ?? nowMs)) >= ABANDONED_AFTER_MS;
}

export async function folderObjects(repo: Repository, folder: string): Promise<StoredObject[]> {
  const objects: StoredObject[] = [];
  for await (const object of repo.list(folder)) objects.push(object);
  return objects;
}

/** When a backup's manifest is under S3 Object Lock past `nowMs` (a backup's objects share one date): that date. */
async function lockedUntil(repo: Repository, folder: string, nowMs: number): Promise<string | undefined> {
  const until = (await repo.head(`${folder}${MANIFEST_FILE}`))?.retainUntil;
  return until && until.getTime() > nowMs ? until.toISOString() : undefined;
}

/** WAL files positioned before `keepFrom` on any timeline (history files always stay). */
export async function expiredWal(repo: Repository, database: string, keepFrom: bigint, segmentSize: number): Promise<Array<{ name: string; key: string; size: number }>> {
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
