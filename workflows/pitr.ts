// Point-in-time restore: plan and check coverage before anything is written, restore a base backup into a new
// data directory, replay archived WAL to the target, promote and verify. A failed attempt leaves nothing behind.
//
// Every step works on one host's disk, so all of them run on one worker: the first asks, on the shared task queue,
// which worker takes the restore, and gets that worker's own task queue (Temporal's worker-specific task queue
// pattern); the others go there. If that host stops answering (killed, its machine gone) for longer than its
// `temporal.hostWait` (30 s) after its heartbeats stopped (30 s), the restore starts over on another worker, at
// most three times: about a minute. What the lost host had made is removed when it comes back (a detached clean-up
// waits for it a week); the result names it meanwhile. A user-chosen port or data directory would collide with what
// the lost attempt left when the new worker shares its machine, so the new attempt removes that first (it is on its
// disk then). The RTO counts from the first attempt.
import {
  ActivityFailure,
  CancellationScope,
  getExternalWorkflowHandle,
  ParentClosePolicy,
  log,
  patched,
  proxyActivities,
  startChild,
  TimeoutFailure,
  workflowInfo,
  type ActivityOptions,
} from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import type { PitrHost } from '../activities/pitr/index.js';
import type { PitrInput, PitrResult } from '../domain/pitr.js';
import { checkInput } from './input.js';
import { LISTING, LONG, QUICK } from './policies.js';
import { tagRun } from './tags.js';
import { holdDatabaseLock } from './lock.js';
import { pitrWorkflowId } from '../domain/ids.js';
import type { RunContext } from './run-context.js';

const shared = proxyActivities<Activities>(QUICK);

/** The activities a point-in-time restore uses: Temporal proxies in the workflow, plain functions with --local. */
export type PitrSteps = Pick<
  Activities,
  'planPitr' | 'restoreBaseBackup' | 'configureRecovery' | 'recoverCluster' | 'verifyRestoredCluster' | 'discardRestoredCluster' | 'holdBackups' | 'releaseBackups'
>;

/** What a failed attempt could not remove: on a host that stopped answering. */
interface LeftBehind {
  host: string;
  datadir: string;
}

/** A lost attempt's data directory, with what removing it takes, and the detached clean-up waiting for its host. */
interface Leftover extends LeftBehind {
  discard: { datadir: string; serverMajor: number; runAs?: string };
  cleanUpId: string;
}

/**
 * Patch id: a lost host is given up at once (its clean-up is not first waited for on its queue), a step whose
 * heartbeats stopped on every attempt counts as a lost host too, a new attempt with a user-chosen port or data
 * directory first removes what a lost attempt left on its machine, and the duration counts from the first attempt.
 */
export const LOST_HOST_AT_ONCE = 'pitr-lost-host-given-up-at-once';

/** A host that died is noticed by its heartbeats within this long (every step heartbeats every few seconds). */
const HOST_HEARTBEAT = '30 seconds';
const ATTEMPTS = 3;

/** The steps on one host's task queue; a step that waits longer than the host's `waitMs` for it fails for good. */
function stepsOn(host: PitrHost): PitrSteps {
  const there: ActivityOptions = { taskQueue: host.taskQueue, scheduleToStartTimeout: host.waitMs, heartbeatTimeout: HOST_HEARTBEAT };
  const quick = proxyActivities<Activities>({ ...QUICK, ...there });
  const listing = proxyActivities<Activities>({ ...LISTING, ...there }); // the plan lists the WAL archive
  const long = proxyActivities<Activities>({ ...LONG, ...there, retry: { ...LONG.retry, initialInterval: '5s' } });
  // Recovery is not retried blindly: a target the WAL does not reach stays unreached.
  const recover = proxyActivities<Activities>({ ...LONG, ...there, retry: { ...LONG.retry, initialInterval: '5s', maximumAttempts: 2 } });
  return {
    planPitr: listing.planPitr,
    restoreBaseBackup: long.restoreBaseBackup,
    configureRecovery: quick.configureRecovery,
    recoverCluster: recover.recoverCluster,
    verifyRestoredCluster: quick.verifyRestoredCluster,
    discardRestoredCluster: quick.discardRestoredCluster,
    // Leases live in the repository: any worker takes and lets go of them.
    holdBackups: shared.holdBackups,
    releaseBackups: shared.releaseBackups,
  };
}

/**
 * The host's task queue went unpolled for longer than it may: that worker is gone. With `heartbeats`, also a step
 * whose every attempt stopped heartbeating (a host that polls but no longer runs what it takes is lost as well).
 */
function hostGone(error: unknown, heartbeats = false): boolean {
  if (!(error instanceof ActivityFailure && error.cause instanceof TimeoutFailure)) return false;
  return error.cause.timeoutType === 'SCHEDULE_TO_START' || (heartbeats && error.cause.timeoutType === 'HEARTBEAT');
}

export async function pitrWorkflow(raw: PitrInput): Promise<PitrResult> {
  const input = checkInput<PitrInput>(
    'pitrWorkflow',
    raw,
    {
      database: { type: 'string', required: true },
      target: { type: 'string', required: true },
      datadir: { type: 'string' },
      port: { type: 'integer' },
      backup: { type: 'string' },
      timeline: { type: 'integer' },
      archive: { type: 'boolean' },
      archiveAs: { type: 'string' },
    },
    '{"database": "cartly", "target": "2026-11-25T14:30:00+01:00" | "0/3000028" | "xid:N" | "name:POINT" | "latest"}',
  );
  tagRun(input.database, 'pitr');
  await holdDatabaseLock(pitrWorkflowId(input.database), input.database, 'pitr', 'A point-in-time restore');
  const info = workflowInfo();
  const atOnce = patched(LOST_HOST_AT_ONCE);
  const firstStartedAt = Date.now();
  const leftBehind: Leftover[] = [];
  for (let attempt = 1; ; attempt += 1) {
    const host = await shared.pitrHost();
    const steps = stepsOn(host);
    if (atOnce && (input.port !== undefined || input.datadir !== undefined)) await removeLeftoversHere(steps, leftBehind);
    try {
      const result = await pitrSteps(steps, input, {
        workflowId: info.workflowId,
        runId: info.runId,
        now: () => Date.now(),
        protect: (fn) => CancellationScope.nonCancellable(fn),
        ...(atOnce ? { startedAt: firstStartedAt, attempt, lostHost: (error: unknown) => hostGone(error, true) } : {}),
        unreachable: async (discard) => {
          const cleanUpId = `${info.workflowId}-${info.runId}-discard-${attempt}`;
          leftBehind.push({ host: host.host, datadir: discard.datadir, discard, cleanUpId });
          await startChild(discardWhenBackWorkflow, { workflowId: cleanUpId, args: [{ host, ...discard }], parentClosePolicy: ParentClosePolicy.ABANDON });
        },
      });
      const left = leftBehind.map(({ host: at, datadir }) => ({ host: at, datadir }));
      return { ...result, hostTaskQueue: host.taskQueue, ...(left.length > 0 ? { leftBehind: left } : {}) };
    } catch (error) {
      if (!hostGone(error, atOnce) || attempt >= ATTEMPTS) throw error;
      log.warn('The worker running this restore stopped answering: starting over on another worker', { host: host.host, taskQueue: host.taskQueue, attempt });
    }
  }
}

/**
 * Before an attempt whose port or data directory the user fixed: what a lost attempt left on this worker's machine
 * (two workers on one machine, one of them killed) still holds that port or directory, its server may still run.
 * It is on this disk, so it is removed here, now, and its detached clean-up is called off. Elsewhere nothing is
 * found (`removed: false`) and the clean-up keeps waiting for the lost host.
 */
async function removeLeftoversHere(steps: PitrSteps, leftBehind: Leftover[]): Promise<void> {
  for (const leftover of [...leftBehind]) {
    const { removed } = await CancellationScope.nonCancellable(() => steps.discardRestoredCluster(leftover.discard)).catch((error: unknown) => {
      log.warn('Could not remove what a lost attempt left on this machine', { datadir: leftover.datadir, error: String(error) });
      return { removed: false };
    });
    if (!removed) continue;
    leftBehind.splice(leftBehind.indexOf(leftover), 1);
    await getExternalWorkflowHandle(leftover.cleanUpId)
      .cancel()
      .catch(() => undefined); // it may have ended already
  }
}

/** Removes what a restore left on a host that stopped answering, once that host's worker polls again (up to a week). */
export async function discardWhenBackWorkflow(input: { host: PitrHost; datadir: string; serverMajor: number; runAs?: string }): Promise<{ removed: boolean }> {
  const { discardRestoredCluster } = proxyActivities<Activities>({ ...QUICK, taskQueue: input.host.taskQueue, scheduleToStartTimeout: '7 days' });
  return discardRestoredCluster({ datadir: input.datadir, serverMajor: input.serverMajor, ...(input.runAs ? { runAs: input.runAs } : {}) });
}

export async function pitrSteps(
  steps: PitrSteps,
  input: PitrInput,
  run: RunContext & {
    unreachable?: (discard: { datadir: string; serverMajor: number; runAs?: string }) => Promise<void>;
    /** When the first attempt started (the RTO counts from there), and which attempt this is. */
    startedAt?: number;
    attempt?: number;
    /** A failure that means the host is gone: its clean-up goes straight to `unreachable`, never waited for. */
    lostHost?: (error: unknown) => boolean;
  },
): Promise<PitrResult> {
  const startedAt = run.startedAt ?? run.now();
  const plan = await steps.planPitr({
    database: input.database,
    target: input.target,
    runId: run.runId,
    ...(input.backup ? { backup: input.backup } : {}),
    ...(input.datadir !== undefined ? { datadir: input.datadir } : {}),
    ...(input.port !== undefined ? { port: input.port } : {}),
    ...(input.timeline !== undefined ? { timeline: input.timeline } : {}),
    ...(input.archive ? { archive: true } : {}),
    ...(input.archiveAs !== undefined ? { archiveAs: input.archiveAs } : {}),
  });
  // Retention keeps the base backup, and the WAL from its start on, while this restore reads them.
  const hold = await steps.holdBackups({ database: input.database, backups: [{ type: 'base', id: plan.baseBackupId }], purpose: 'point-in-time restore' });
  let base;
  let recovered;
  let verified;
  try {
    const cluster = { database: input.database, datadir: plan.datadir, port: plan.port, serverMajor: plan.serverMajor, ...(plan.runAs ? { runAs: plan.runAs } : {}) };
    base = await steps.restoreBaseBackup({ database: input.database, baseBackupId: plan.baseBackupId, datadir: plan.datadir, stage: plan.stage, ...(plan.runAs ? { runAs: plan.runAs } : {}) });
    await steps.configureRecovery({ ...cluster, settings: plan.settings, target: plan.target, timeline: plan.timeline, ...(plan.archiveAs ? { archiveAs: plan.archiveAs } : {}) });
    recovered = await steps.recoverCluster({ ...cluster, target: plan.target, segments: plan.segments });
    verified = await steps.verifyRestoredCluster({
      database: input.database,
      port: plan.port,
      target: plan.target,
      ...(recovered.lastTransactionAt ? { lastTransactionAt: recovered.lastTransactionAt } : {}),
    });
  } catch (error) {
    const discard = { datadir: plan.datadir, serverMajor: plan.serverMajor, ...(plan.runAs ? { runAs: plan.runAs } : {}) };
    await run.protect(async () => {
      if (run.unreachable && run.lostHost?.(error)) return run.unreachable(discard);
      try {
        await steps.discardRestoredCluster(discard);
      } catch (discardError) {
        if (!run.unreachable) throw discardError;
        await run.unreachable(discard);
      }
    });
    throw error;
  } finally {
    await run.protect(() => steps.releaseBackups(hold));
  }
  const durationMs = run.now() - startedAt;
  return {
    database: input.database,
    target: plan.targetDescription,
    baseBackupId: plan.baseBackupId,
    datadir: plan.datadir,
    port: plan.port,
    connection: `postgresql://${plan.connectAs.user}@localhost:${plan.port}/${plan.connectAs.database}`,
    timeline: verified.timeline,
    ...(recovered.lastTransactionAt ? { lastTransactionAt: recovered.lastTransactionAt } : {}),
    ...(recovered.stoppedAt ? { stoppedAt: recovered.stoppedAt } : {}),
    reachedLsn: verified.reachedLsn,
    followedTimeline: { timeline: plan.timeline, reason: plan.timelineReason },
    ...(plan.notes.length > 0 ? { note: plan.notes.join('; ') } : {}),
    ...(plan.archiveAs ? { archivesAs: plan.archiveAs } : {}),
    window: plan.window,
    segmentsRestored: recovered.segmentsRestored,
    durationMs,
    ...(run.attempt !== undefined && run.attempt > 1 ? { attempts: run.attempt } : {}),
    baseRestoreMs: base.restoreMs,
    ...(base.filesMs !== undefined ? { baseFilesMs: base.filesMs } : {}),
    ...(base.stagedMs !== undefined ? { walStagedMs: base.stagedMs } : {}),
    ...(base.staged !== undefined ? { walStaged: base.staged } : {}),
    recoveryMs: recovered.recoveryMs,
    // Passed through from the activities' results (added fields: histories without them replay alike).
    ...(recovered.promotedMs !== undefined ? { promotedMs: recovered.promotedMs } : {}),
    ...(recovered.promotedAt !== undefined ? { writableAt: recovered.promotedAt } : {}),
    ...(verified.verifyMs !== undefined ? { verifyMs: verified.verifyMs } : {}),
    ...(plan.rtoMs !== undefined ? { rtoMs: plan.rtoMs, withinRto: durationMs <= plan.rtoMs } : {}),
    workflowId: run.workflowId,
    runId: run.runId,
  };
}
