// Deleting what an expiry plan names, checking again on the way what a reader took a lease on since the plan.
import type { Config } from '../../config/schema.js';
import { backupFolder, MANIFEST_FILE, readManifest } from '../catalog/manifest.js';
import { backupKey, heldBackups } from '../catalog/leases.js';
import { resolveDatabase } from '../database-context.js';
import { currentReporter } from '../progress.js';
import { openRepository } from '../storage/open.js';
import type { Repository } from '../storage/repository.js';
import { parseLsn, segnoOfLsn } from '../wal/names.js';
import { temporalRunCheck } from '../workflow-runs.js';
import { ABANDONED_AFTER_MS, type ExpiryPlan } from './inputs.js';
import { expiredWal, folderObjects, isAbandoned } from './plan.js';

// One pass over the plan in its order (logical, base, abandoned, WAL, leases): the closures share the counts.
export async function applyExpiry(config: Config, plan: ExpiryPlan): Promise<{ deletedObjects: number; locked: ExpiryPlan['locked']; held: ExpiryPlan['held'] }> {
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
  const repositories = new Set([...resolveDatabase(config, plan.database).view.allRepositories, plan.wal.repository]);
  for (const repository of repositories) {
    const repo = openRepository(config, repository);
    // Leases whose holders are gone (a worker killed before it could release them) go too.
    await repo.delete((await heldBackups(repo, plan.database, Date.now(), runIsOpen)).lapsed);
    // Uploads that never completed and are older than any attempt could be (their folder may hold no object).
    deleted += await repo.abortIncompleteWrites(`${plan.database}/`, { olderThan: new Date(Date.now() - ABANDONED_AFTER_MS) });
  }
  return { deletedObjects: deleted, locked: [...plan.locked, ...locked], held };
}
