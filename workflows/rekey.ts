// Key rotation of one database: re-wrap every data key for the current keys, a batch at a time (each batch an
// activity with progress), without reading or writing any backed-up data. Running it again resumes: keys that
// are already wrapped for the current keys are skipped.
import { ApplicationFailure, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import type { RekeyInput, RekeyResult } from '../domain/rekey.js';
import { LONG, QUICK } from './policies.js';
import { tagRun } from './tags.js';

const quick = proxyActivities<Activities>(QUICK);
const long = proxyActivities<Activities>(LONG);

const BATCH = 25;

export async function rekeyWorkflow(input: RekeyInput): Promise<RekeyResult> {
  if (typeof input?.database !== 'string' || input.database === '') {
    throw ApplicationFailure.nonRetryable('Rekey input needs "database": {"database": "cartly"}.', 'Usage');
  }
  tagRun(input.database, 'rekey');
  const info = workflowInfo();
  const plan = await quick.planRekey({ database: input.database });
  const totals = { rewrapped: 0, alreadyCurrent: 0, gone: 0 };
  const failed: Array<{ repository: string; kind: string; id: string; error: string; errorKind: string }> = [];
  for (let offset = 0; offset < plan.items.length; offset += BATCH) {
    const batch = await long.rekeyDataKeys({ database: input.database, items: plan.items.slice(offset, offset + BATCH), offset, total: plan.items.length });
    totals.rewrapped += batch.rewrapped;
    totals.alreadyCurrent += batch.alreadyCurrent;
    totals.gone += batch.gone;
    failed.push(...batch.failed);
  }
  if (failed.length > 0) {
    throw ApplicationFailure.nonRetryable(
      `${failed.length} of ${plan.items.length} data key(s) of "${input.database}" could not be re-wrapped (the others were): ` +
        `${failed.slice(0, 3).map((f) => `${f.kind} ${f.id} in ${f.repository}: ${f.error}`).join(' | ')}. Fix that and run the rekey again: it resumes.`,
      failed[0]!.errorKind,
    );
  }
  return {
    database: input.database,
    dataKeys: plan.items.length,
    ...totals,
    wrappedFor: plan.wrappedFor,
    beforeEnvelope: plan.beforeEnvelope,
    walBeforeEnvelope: plan.walBeforeEnvelope,
    workflowId: info.workflowId,
    runId: info.runId,
  };
}
