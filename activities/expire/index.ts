// Retention: which backups and which WAL may go, decided from the repository alone, then deleted. The plan is
// an activity result, so the workflow's history says exactly what was removed and why.
import { WorkflowNotFoundError } from '@temporalio/common';
import { databaseView } from '../../config/load.js';
import type { Config } from '../../config/schema.js';
import { BACKUP_KINDS, type BackupKind } from '../../domain/kinds.js';
import { scanBackups } from '../catalog/list.js';
import { backupFolder, MANIFEST_FILE, readManifest, type BackupManifest } from '../catalog/manifest.js';
import { backupKey, heldBackups, type RunIsOpen } from '../catalog/leases.js';
import { activityContext, currentReporter, warn, withListingProgress } from '../progress.js';
import { openRepository } from '../storage/open.js';
import type { Repository, StoredObject } from '../storage/repository.js';
import { walFolder, walNameOfKey } from '../wal/archive.js';
import { parseLsn, parseWalFileName, segnoOfLsn } from '../wal/names.js';
import { readArchiveIdentity } from '../wal/archive.js';
import { walRepositoryName } from '../wal/open.js';

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
  /** Backups the rules would remove, kept because a restore, drill or PITR is reading them. */
  held: Array<{ repository: string; type: 'logical' | 'base'; id: string; by: string[] }>;
  /** Folders without a manifest whose newest object is older than ABANDONED_AFTER_MS: backups that never finished. */
  abandoned: Array<{ repository: string; type: 'logical' | 'base'; id: string; objects: number; bytes: number; lastWrittenAt: string }>;
  /** Backups whose manifest cannot be used (broken, or from a newer pgwarden): never removed here, only reported. */
  damaged: Array<{ repository: string; type: 'logical' | 'base'; id: string; reason: string }>;
}

/**
 * When a folder without a manifest is certainly not a backup still being written: a dump or copy attempt runs at
 * most 24 h (workflows/policies.ts) and a retried one starts by emptying the folder, so after two days without a
 * new object nothing is coming back for it.
 */
export const ABANDONED_AFTER_MS = 2 * 86_400_000;

export function expireActivities(config: Config) {
  return {
    async planExpiry(input: { database: string; nowMs: number }): Promise<ExpiryPlan> {
      return planExpiry(config, input.database, input.nowMs);
    },
    /**
     * Deletes what the plan names: manifests first, so an interrupted delete leaves nothing that looks restorable.
     * A backup that a reader took a lease on since the plan was made stays (see activities/hold/).
     */
    async applyExpiry(plan: ExpiryPlan): Promise<{ deletedObjects: number; locked: ExpiryPlan['locked']; held: ExpiryPlan['held'] }> {
      const reporter = currentReporter();
      const runIsOpen = temporalRunCheck();
      let deleted = 0;
      const locked: ExpiryPlan['locked'] = [];
      const held: ExpiryPlan['held'] = [];
      const holders = async (repo: Repository, type: 'logical' | 'base', id: string) =>
        (await heldBackups(repo, plan.database, Date.now(), runIsOpen)).held.get(backupKey({ type, id }));
      /** Every object under `folder` and its unfinished uploads; what Object Lock keeps is reported. */
      const removeObjects = async (repo: Repository, folder: string) => {
        const keys = (await folderObjects(repo, folder)).map((o) => o.key);
        const outcome = await repo.delete(keys);
        for (const key of outcome.locked) locked.push({ repository: repo.name, what: key });
        await repo.abortIncompleteWrites(folder);
        deleted += keys.length - outcome.locked.length;
      };
      const removeFolder = async (repository: string, type: 'logical' | 'base', id: string) => {
        const repo = openRepository(config, repository);
        const folder = backupFolder(plan.database, type, id);
        const keep = (by: string[]) => held.push({ repository, type, id, by });
        const before = await holders(repo, type, id);
        if (before) return keep(before);
        const manifest = await repo.getBytes(`${folder}${MANIFEST_FILE}`);
        const gone = await repo.delete([`${folder}${MANIFEST_FILE}`]);
        if (gone.locked.length > 0) {
          locked.push({ repository: repo.name, what: folder }); // locked since the plan: leave the backup whole
          return;
        }
        // A reader writes its lease before it reads the manifest: if it came in between, put the manifest back.
        const meanwhile = await holders(repo, type, id);
        if (meanwhile) {
          if (manifest) await repo.putBytes(`${folder}${MANIFEST_FILE}`, manifest);
          return keep(meanwhile);
        }
        deleted += 1;
        await removeObjects(repo, folder);
        reporter.report({ phase: 'deleting', bytesDone: 0, itemsDone: deleted });
      };
      for (const item of plan.logical) await removeFolder(item.repository, 'logical', item.id);
      for (const item of plan.base) await removeFolder(item.repository, 'base', item.id);
      for (const item of plan.abandoned) {
        const repo = openRepository(config, item.repository);
        const folder = backupFolder(plan.database, item.type, item.id);
        if (await isAbandoned(repo, folder, Date.now())) await removeObjects(repo, folder); // else finished or written to since the plan
      }
      if (plan.wal.keepFromSegno !== undefined && plan.wal.count > 0) {
        const repo = openRepository(config, plan.wal.repository);
        // A base backup that a PITR holds keeps the WAL from its start on, even if the plan let it go.
        let keepFrom = BigInt(plan.wal.keepFromSegno);
        for (const item of held.filter((h) => h.type === 'base')) {
          const manifest = await readManifest(repo, backupFolder(plan.database, 'base', item.id));
          if (manifest?.base) keepFrom = [keepFrom, segnoOfLsn(parseLsn(manifest.base.startLsn), plan.wal.segmentSize)].reduce((a, b) => (b < a ? b : a));
        }
        // Listed again rather than carried in the plan: a week of WAL can be tens of thousands of names.
        const expired = await expiredWal(repo, plan.database, keepFrom, plan.wal.segmentSize);
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
      const repositories = new Set([...databaseView(config, plan.database).allRepositories, plan.wal.repository]);
      for (const repository of repositories) {
        const repo = openRepository(config, repository);
        // Leases whose holders are gone (a worker killed before it could release them) go too.
        await repo.delete((await heldBackups(repo, plan.database, Date.now(), runIsOpen)).lapsed);
        // Uploads that never completed and are older than any attempt could be (their folder may hold no object).
        deleted += await repo.abortIncompleteWrites(`${plan.database}/`, { olderThan: new Date(Date.now() - ABANDONED_AFTER_MS) });
      }
      return { deletedObjects: deleted, locked: [...plan.locked, ...locked], held };
    },
  };
}

async function planExpiry(config: Config, database: string, nowMs: number): Promise<ExpiryPlan> {
  const db = databaseView(config, database);
  const runIsOpen = temporalRunCheck();
  const logical: ExpiryPlan['logical'] = [];
  const locked: ExpiryPlan['locked'] = [];
  const held: ExpiryPlan['held'] = [];
  const abandoned: ExpiryPlan['abandoned'] = [];
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
    const inUse = (await heldBackups(repo, database, nowMs, runIsOpen)).held;
    abandoned.push(...(await abandonedFolders(repo, database, 'logical', backups, nowMs)));
    const newest = backups.at(-1)?.id;
    for (const backup of backups) {
      const keepMs = db.retentionFor(BACKUP_KINDS.includes(backup.kind as BackupKind) ? (backup.kind as BackupKind) : 'manual');
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
        logical.push({ repository, id: backup.id, kind: backup.kind, finishedAt: backup.finishedAt, rule: `${backup.kind} backups are kept ${Math.round(keepMs / 86_400_000)} days` });
      } else keptLogical += 1;
    }
  }

  // PITR: every moment of the window must stay restorable, so keep the base backups inside it and the newest
  // one before it (it covers the window's start), and every WAL file from the oldest kept one's start on.
  const walRepository = walRepositoryName(config, database);
  const repo = openRepository(config, walRepository);
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

async function isAbandoned(repo: Repository, folder: string, nowMs: number): Promise<boolean> {
  const objects = await folderObjects(repo, folder);
  if (objects.length === 0 || objects.some((o) => o.key.endsWith(`/${MANIFEST_FILE}`))) return false;
  return nowMs - Math.max(...objects.map((o) => o.modified?.getTime() ?? nowMs)) >= ABANDONED_AFTER_MS;
}

async function folderObjects(repo: Repository, folder: string): Promise<StoredObject[]> {
  const objects: StoredObject[] = [];
  for await (const object of repo.list(folder)) objects.push(object);
  return objects;
}

/** Inside an activity: asks Temporal whether a lease's workflow run is still open. */
function temporalRunCheck(): RunIsOpen | undefined {
  const context = activityContext();
  if (!context) return undefined;
  const open = new Map<string, boolean | undefined>();
  return async ({ workflowId, runId }) => {
    const key = `${workflowId}/${runId}`;
    if (!open.has(key)) {
      try {
        const description = await context.client.workflow.getHandle(workflowId, runId).describe();
        open.set(key, description.status.name === 'RUNNING');
      } catch (error) {
        open.set(key, error instanceof WorkflowNotFoundError ? false : undefined);
      }
    }
    return open.get(key);
  };
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
