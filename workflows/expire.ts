// Retention of one database: plan from the repository what may go (recorded in this history), then delete it.
import { proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import type { ExpireInput, ExpireResult } from './messages.js';
import { checkInput } from './input.js';
import { LISTING, LONG } from './policies.js';
import { tagRun } from './tags.js';

const listing = proxyActivities<Activities>(LISTING);
const long = proxyActivities<Activities>(LONG);

export async function expireWorkflow(started: ExpireInput): Promise<ExpireResult> {
  const input = checkInput<ExpireInput>('expireWorkflow', started, { database: { type: 'string', required: true }, dryRun: { type: 'boolean' } }, '{"database": "cartly", "dryRun": true}');
  tagRun(input.database, 'expire');
  const info = workflowInfo();
  const plan = await listing.planExpiry({ database: input.database, nowMs: Date.now() });
  const applied = input.dryRun ? { deletedObjects: 0, locked: plan.locked } : await long.applyExpiry(plan);
  const { repository: _repository, keepFromSegno: _segno, segmentSize: _size, ...wal } = plan.wal;
  return {
    database: input.database,
    dryRun: input.dryRun ?? false,
    logical: plan.logical,
    base: plan.base,
    wal,
    kept: plan.kept,
    locked: applied.locked,
    ...(plan.damaged?.length ? { damaged: plan.damaged } : {}),
    deletedObjects: applied.deletedObjects,
    workflowId: info.workflowId,
    runId: info.runId,
  };
}
