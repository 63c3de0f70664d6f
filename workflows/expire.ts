// Retention of one database: plan from the repository what may go (recorded in this history), then delete it.
import { patched, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import type { ExpireInput, ExpireResult } from '../domain/expire.js';
import { checkInput } from './input.js';
import { HEAVY_WORK_ON_JOB_QUEUES, jobOptions, LISTING, QUICK } from './policies.js';
import { tagRun } from './tags.js';

const quick = proxyActivities<Activities>(QUICK);
const listing = proxyActivities<Activities>(LISTING);

export async function expireWorkflow(raw: ExpireInput): Promise<ExpireResult> {
  const input = checkInput<ExpireInput>('expireWorkflow', raw, { database: { type: 'string', required: true }, dryRun: { type: 'boolean' } }, '{"database": "cartly", "dryRun": true}');
  tagRun(input.database, 'expire');
  const info = workflowInfo();
  // Deleting a week of objects is a backup job's load on the repository: it takes a backup slot of the worker.
  const long = proxyActivities<Activities>(jobOptions(info.taskQueue, 'backups', patched(HEAVY_WORK_ON_JOB_QUEUES)));
  const plan = await listing.planExpiry({ database: input.database, nowMs: Date.now() });
  const applied = input.dryRun ? { deletedObjects: 0, locked: plan.locked, held: [] } : await long.applyExpiry(plan);
  // Neon: backup branches whose backup run is over (a worker that died, a terminated workflow) go too.
  const neonBranches = await quick.sweepNeonBranches({ database: input.database, dryRun: input.dryRun ?? false });
  const { repository: _repository, keepFromSegno: _segno, segmentSize: _size, ...wal } = plan.wal;
  // What a reader took a lease on after the plan was made stayed: the result says so, not that it went.
  const stayed = (type: string, repository: string, id: string) => applied.held.some((h) => h.type === type && h.repository === repository && h.id === id);
  return {
    database: input.database,
    dryRun: input.dryRun ?? false,
    logical: plan.logical.filter((l) => !stayed('logical', l.repository, l.id)),
    base: plan.base.filter((b) => !stayed('base', b.repository, b.id)),
    wal,
    kept: plan.kept,
    locked: applied.locked,
    held: [...plan.held, ...applied.held],
    abandoned: plan.abandoned,
    ...(plan.damaged?.length ? { damaged: plan.damaged } : {}),
    deletedObjects: applied.deletedObjects,
    ...(neonBranches.deleted.length || neonBranches.kept.length ? { neonBranches } : {}),
    workflowId: info.workflowId,
    runId: info.runId,
  };
}
