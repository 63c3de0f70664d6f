// The logical restore of one backup into a new database: plan, load into staging and verify, then rename.
import { ApplicationFailure, CancellationScope, patched, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import type { RestoreInput, RestoreResult } from '../domain/restore.js';
import { checkInput } from './input.js';
import { JOB_QUEUES, jobOptions, QUICK } from './policies.js';
import { compactTimestamp, tagRun } from './tags.js';
import { holdDatabaseLock } from './lock.js';
import { restoreWorkflowId } from '../domain/ids.js';
import type { RunContext } from './run-context.js';
import type { RestorePlan } from '../activities/restore/index.js';

const quick = proxyActivities<Activities>(QUICK);

/** The activities a restore uses: Temporal proxies in the workflow, plain functions with --local. */
export type RestoreSteps = Pick<
  Activities,
  'planRestore' | 'restoreLogical' | 'publishRestore' | 'dropStagingDatabase' | 'restoreIntoFreshProject' | 'holdBackups' | 'releaseBackups'
>;

export async function restoreWorkflow(raw: RestoreInput): Promise<RestoreResult> {
  const input = checkInput<RestoreInput>(
    'restoreWorkflow',
    raw,
    {
      database: { type: 'string', required: true },
      backup: { type: 'string', required: true },
      target: { type: 'string', required: true },
      replaceExisting: { type: 'string' },
      noOwner: { type: 'boolean' },
      noPrivileges: { type: 'boolean' },
      repository: { type: 'string' },
      tables: { type: 'strings' },
      schemas: { type: 'strings' },
      server: { type: 'string', oneOf: ['drill'] },
    },
    '{"database": "cartly", "backup": "latest", "target": "cartly_restored"}',
  );
  tagRun(input.database, 'restore');
  await holdDatabaseLock(restoreWorkflowId(input.database), input.database, 'restore', 'A restore');
  const info = workflowInfo();
  const jobs = proxyActivities<Activities>(jobOptions(info.taskQueue, 'restores', patched(JOB_QUEUES)));
  const steps: RestoreSteps = {
    planRestore: quick.planRestore,
    restoreLogical: jobs.restoreLogical,
    publishRestore: quick.publishRestore,
    dropStagingDatabase: quick.dropStagingDatabase,
    restoreIntoFreshProject: jobs.restoreIntoFreshProject,
    holdBackups: quick.holdBackups,
    releaseBackups: quick.releaseBackups,
  };
  return restoreSteps(steps, input, { workflowId: info.workflowId, runId: info.runId, now: () => Date.now(), protect: (fn) => CancellationScope.nonCancellable(fn) });
}

/** Plan, load into staging and verify, rename: nothing existing is touched before a verified copy is in place. */
export async function restoreSteps(steps: RestoreSteps, input: RestoreInput, run: RunContext): Promise<RestoreResult> {
  const startedAt = run.now();
  const plan = await steps.planRestore({
    database: input.database,
    backup: input.backup,
    target: input.target,
    runId: run.runId,
    ...(input.replaceExisting !== undefined ? { replaceExisting: input.replaceExisting } : {}),
    ...(input.repository !== undefined ? { repository: input.repository } : {}),
    ...(input.server ? { server: input.server } : {}),
  });
  // Retention leaves the backup alone while it is read.
  const hold = await steps.holdBackups({ database: input.database, repository: plan.repository, backups: [{ type: 'logical', id: plan.backupId }], purpose: `restore into ${input.target}` });
  try {
    return await loadAndPublish(steps, input, run, plan, startedAt);
  } finally {
    await run.protect(() => steps.releaseBackups(hold));
  }
}

async function loadAndPublish(steps: RestoreSteps, input: RestoreInput, run: RunContext, plan: RestorePlan, startedAt: number): Promise<RestoreResult> {
  if (plan.mode === 'fresh-project') return freshProjectSteps(steps, input, run, plan, startedAt);

  const provenance = `Restored by pgwarden from backup ${plan.backupId} of ${input.database} (workflow ${run.workflowId}, run ${run.runId}) at ${new Date(startedAt).toISOString()}`;
  let restored;
  let published;
  try {
    restored = await steps.restoreLogical({
      database: input.database,
      backupId: plan.backupId,
      repository: plan.repository,
      staging: plan.staging,
      noOwner: input.noOwner ?? false,
      ...(input.noPrivileges ? { noPrivileges: true } : {}),
      provenance,
      ...(input.server ? { server: input.server } : {}),
      ...(input.tables ? { tables: input.tables } : {}),
      ...(input.schemas ? { schemas: input.schemas } : {}),
    });
    // One transaction renames the replaced database away and the restored one in: it never leaves the name missing.
    published = await steps.publishRestore({
      database: input.database,
      staging: plan.staging,
      target: input.target,
      keepSuffix: compactTimestamp(startedAt),
      provenance,
      ...(input.replaceExisting !== undefined ? { replaceExisting: input.replaceExisting } : {}),
      ...(input.server ? { server: input.server } : {}),
    });
  } catch (error) {
    // Only the staging database goes: after a successful swap it has the target's name and none is left to drop.
    await run.protect(() => steps.dropStagingDatabase({ database: input.database, staging: plan.staging, ...(input.server ? { server: input.server } : {}) }));
    throw error;
  }

  return restoreResult(input, run, plan, startedAt, restored, published);
}

/** A Supabase backup into a fresh project: one transaction, so a failure leaves nothing to clean up. */
async function freshProjectSteps(steps: RestoreSteps, input: RestoreInput, run: RunContext, plan: RestorePlan, startedAt: number): Promise<RestoreResult> {
  if (input.tables || input.schemas) {
    throw ApplicationFailure.nonRetryable(`A restore of some tables goes into a new database; ${input.database} restores into a fresh Supabase project only as a whole: leave out tables and schemas.`, 'Usage');
  }
  const restored = await steps.restoreIntoFreshProject({
    database: input.database,
    backupId: plan.backupId,
    repository: plan.repository,
    target: input.target,
    ...(input.noOwner ? { noOwner: true } : {}),
    ...(input.noPrivileges ? { noPrivileges: true } : {}),
    ...(plan.sequences ? { sequences: plan.sequences } : {}),
  });
  return restoreResult(input, run, plan, startedAt, restored);
}

/** What a restore reports, either way it loaded the backup: times against the RTO, the row-count check, the swap. */
function restoreResult(
  input: RestoreInput,
  run: RunContext,
  plan: RestorePlan,
  startedAt: number,
  restored: Awaited<ReturnType<RestoreSteps['restoreLogical']>>,
  published?: Awaited<ReturnType<RestoreSteps['publishRestore']>>,
): RestoreResult {
  const durationMs = run.now() - startedAt;
  return {
    database: input.database,
    backupId: plan.backupId,
    target: input.target,
    server: plan.server,
    durationMs,
    restoreMs: restored.restoreMs,
    ...(restored.phasesMs ? { phasesMs: restored.phasesMs } : {}),
    ...(plan.rtoMs !== undefined ? { rtoMs: plan.rtoMs, withinRto: durationMs <= plan.rtoMs } : {}),
    tables: restored.tables,
    rows: restored.rows,
    rowCountsMatch: restored.mismatchedTables === 0,
    mismatches: restored.mismatches,
    ...published,
    ...(plan.warnings?.length || restored.warnings?.length ? { warnings: [...(plan.warnings ?? []), ...(restored.warnings ?? [])] } : {}),
    ...(restored.leftOut?.length ? { leftOut: restored.leftOut } : {}),
    workflowId: run.workflowId,
    runId: run.runId,
  };
}
