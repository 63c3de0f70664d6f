// The restore drill: restore the latest backup into a drill database on the drill server (the restore workflow,
// which checks the manifest's row counts), run the configured assertions, drop it whatever happened; for PITR
// databases also a point-in-time restore to the latest moment (the PITR workflow), checked and removed the same
// way. The result sets the measured restore time against the RTO and the data's age against the RPO: a drill is
// the proof that the targets hold, and a drill that does not prove them fails.
import { ApplicationFailure, CancellationScope, patched, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import type { DrillPlan } from '../activities/drill/index.js';
import { failureText } from '../domain/alert-rules.js';
import { humanDuration } from '../domain/format.js';
import { pitrWorkflowId, restoreWorkflowId } from '../domain/ids.js';
import type { DrillInput, DrillPart, DrillResult } from '../domain/verify.js';
import type { PitrResult } from '../domain/pitr.js';
import type { RestoreResult } from '../domain/restore.js';
import { jobOptions, QUICK } from './policies.js';
import { checkInput } from './input.js';
import { childWhenFree, DRILL_WAIT_FOR_TURN_MS } from './lock-turn.js';
import { tagRun } from './tags.js';

const quick = proxyActivities<Activities>(QUICK);
// Assertions may scan big tables: their own timeout bounds each query; a worker dying mid-way retries them.
const checks = proxyActivities<Activities>({ ...QUICK, startToCloseTimeout: '2 hours' });

/** The activities on the host that holds a PITR's restored cluster (the shared queue when it did not say). */
function onHost(restored: PitrResult): { quick: typeof quick; checks: typeof checks } {
  if (!restored.hostTaskQueue) return { quick, checks };
  // A host that is gone for an hour fails the step (the drill then reports what it could not check or remove).
  const there = { taskQueue: restored.hostTaskQueue, scheduleToStartTimeout: '1 hour' };
  return { quick: proxyActivities<Activities>({ ...QUICK, ...there }), checks: proxyActivities<Activities>({ ...QUICK, startToCloseTimeout: '2 hours', ...there }) };
}

/** Patch id: a Supabase database is drilled in its fresh project, in one transaction rolled back. */
export const FRESH_PROJECT_DRILL = 'supabase-drill-in-fresh-project';

export async function drillWorkflow(raw: DrillInput): Promise<DrillResult> {
  const input = checkInput<DrillInput>('drillWorkflow', raw, { database: { type: 'string', required: true }, pitr: { type: 'boolean' } }, '{"database": "cartly", "pitr": true}');
  tagRun(input.database, 'drill');
  const info = workflowInfo();
  const started = Date.now();
  const plan = await quick.planDrill({ database: input.database, runId: info.runId, ...(input.pitr !== undefined ? { pitr: input.pitr } : {}) });

  const parts: DrillPart[] = [await logicalDrill(input.database, plan, started)];
  if (plan.pitr) parts.push(await pitrDrill(input.database, plan, started));

  const failures = parts.flatMap((p) => partFailures(p));
  const result: DrillResult = {
    database: input.database,
    passed: failures.length === 0,
    server: plan.server,
    parts,
    failures,
    startedAt: new Date(started).toISOString(),
    durationMs: Date.now() - started,
    workflowId: info.workflowId,
    runId: info.runId,
  };
  await CancellationScope.nonCancellable(() => quick.recordDrill(result)).catch(() => undefined);
  if (!result.passed) {
    // Data that does not match is an integrity failure; a restore that could not run, or missed a target, is not.
    const integrity = parts.some((p) => p.rowCountsMatch === false || p.assertions.some((a) => !a.passed));
    throw ApplicationFailure.create({ type: integrity ? 'Integrity' : 'Failed', nonRetryable: true, message: `Restore drill of ${input.database} failed: ${failures.join('; ')}`, details: [result] });
  }
  return result;
}

async function logicalDrill(database: string, plan: DrillPlan, started: number): Promise<DrillPart> {
  if (plan.freshProject && patched(FRESH_PROJECT_DRILL)) return freshProjectDrill(database, plan, started);
  const part: DrillPart = { type: 'logical', passed: false, backupId: plan.backupId, target: plan.target, assertions: [], cleanedUp: false };
  try {
    const restored = await childWhenFree<RestoreResult>('restoreWorkflow', restoreWorkflowId(database), [
      {
        database,
        backup: plan.backupId,
        target: plan.target,
        server: 'drill',
        // The drill server need not have the source's roles: the drill is about the data.
        noOwner: true,
        noPrivileges: true,
      },
    ], DRILL_WAIT_FOR_TURN_MS);
    part.restoreMs = restored.durationMs;
    part.tables = restored.tables;
    part.rows = restored.rows;
    part.rowCountsMatch = restored.rowCountsMatch;
    targets(part, plan, started - Date.parse(plan.backupStartedAt));
    part.assertions = (await checks.checkDrill({ database, target: plan.target })).assertions;
  } catch (error) {
    part.error = failureText(error);
  } finally {
    // Whatever happened, and even if the drill is cancelled: no drill database stays behind.
    await CancellationScope.nonCancellable(async () => {
      const dropped = await quick.dropDrillDatabase({ database, target: plan.target }).catch((error: unknown) => (part.error ??= `clean-up failed: ${failureText(error)}`));
      part.cleanedUp = typeof dropped !== 'string';
    });
  }
  part.passed = passed(part);
  return part;
}

/** A Supabase backup loaded into the fresh project, checked there and rolled back; the project's sequences put back. */
async function freshProjectDrill(database: string, plan: DrillPlan, started: number): Promise<DrillPart> {
  const fresh = plan.freshProject!;
  const part: DrillPart = { type: 'logical', passed: false, backupId: plan.backupId, target: plan.target, assertions: [], cleanedUp: false };
  try {
    const jobs = proxyActivities<Activities>(jobOptions(workflowInfo().taskQueue, 'restores', true));
    const drilled = await jobs.drillFreshProject({ database, backupId: plan.backupId, ...fresh });
    part.restoreMs = drilled.restoreMs;
    part.tables = drilled.tables;
    part.rows = drilled.rows;
    part.rowCountsMatch = drilled.rowCountsMatch;
    targets(part, plan, started - Date.parse(plan.backupStartedAt));
    part.assertions = drilled.assertions;
  } catch (error) {
    part.error = failureText(error);
  } finally {
    // Whatever happened, and even if the drill is cancelled: the project's sequences stand where they stood.
    await CancellationScope.nonCancellable(async () => {
      const reset = await quick.resetDrillSequences({ database, sequences: fresh.sequences }).catch((error: unknown) => (part.error ??= `clean-up failed: ${failureText(error)}`));
      part.cleanedUp = typeof reset !== 'string';
    });
  }
  part.passed = passed(part);
  return part;
}

async function pitrDrill(database: string, plan: DrillPlan, started: number): Promise<DrillPart> {
  const part: DrillPart = { type: 'pitr', passed: false, assertions: [], cleanedUp: false };
  let restored: PitrResult | undefined;
  try {
    restored = await childWhenFree<PitrResult>('pitrWorkflow', pitrWorkflowId(database), [{ database, target: 'latest' }], DRILL_WAIT_FOR_TURN_MS);
    part.backupId = restored.baseBackupId;
    part.target = restored.datadir;
    part.restoreMs = restored.durationMs;
    const dataAt = restored.lastTransactionAt ?? restored.window.to;
    targets(part, plan, started - Date.parse(dataAt));
    // The restored cluster is on the host that ran the PITR: its checks and its removal run there too.
    part.assertions = (await onHost(restored).checks.checkDrill({ database, pitrPort: restored.port })).assertions;
  } catch (error) {
    part.error = failureText(error);
  } finally {
    if (restored) {
      const datadir = restored.datadir;
      await CancellationScope.nonCancellable(async () => {
        const discarded = await onHost(restored!).quick.discardDrillCluster({ database, datadir }).catch((error: unknown) => (part.error ??= `clean-up failed: ${failureText(error)}`));
        part.cleanedUp = typeof discarded !== 'string';
      });
    } else {
      part.cleanedUp = true; // a failed PITR removes its own data directory
    }
  }
  part.passed = passed(part);
  return part;
}

function targets(part: DrillPart, plan: DrillPlan, dataAgeMs: number): void {
  if (plan.rtoMs !== undefined && part.restoreMs !== undefined) {
    part.rtoMs = plan.rtoMs;
    part.withinRto = part.restoreMs <= plan.rtoMs;
  }
  part.dataAgeMs = Math.max(0, dataAgeMs);
  if (plan.rpoMs !== undefined) {
    part.rpoMs = plan.rpoMs;
    part.withinRpo = part.dataAgeMs <= plan.rpoMs;
  }
}

function passed(part: DrillPart): boolean {
  return part.error === undefined && part.rowCountsMatch !== false && part.withinRto !== false && part.withinRpo !== false && part.assertions.every((a) => a.passed) && part.cleanedUp;
}

function partFailures(part: DrillPart): string[] {
  const what = part.type === 'logical' ? `logical restore${part.backupId ? ` of ${part.backupId}` : ''}` : 'point-in-time restore to latest';
  const out: string[] = [];
  if (part.error) out.push(`${what}: ${part.error}`);
  if (part.rowCountsMatch === false) out.push(`${what}: row counts differ from the manifest`);
  if (part.withinRto === false) out.push(`${what} took ${humanDuration(part.restoreMs!)}, over the RTO of ${humanDuration(part.rtoMs!)}`);
  if (part.withinRpo === false) out.push(`${what}: the data was ${humanDuration(part.dataAgeMs!)} old, over the RPO of ${humanDuration(part.rpoMs!)}`);
  for (const a of part.assertions.filter((x) => !x.passed)) out.push(`${what}: assertion "${a.name}" failed (${a.detail})`);
  if (!part.cleanedUp && !part.error) out.push(`${what}: ${part.target} could not be removed`);
  return out;
}

