// What the CLI does while it waits for a workflow: progress on stderr; a warning when nothing has moved for a
// while, saying why (no worker, a worker gone quiet); and on the first Ctrl-C or SIGTERM it stops waiting,
// says how to follow or cancel the workflow, and leaves it running in Temporal.
import { constants } from 'node:os';
import type { Client, WorkflowExecutionDescription, WorkflowHandle } from '@temporalio/client';
import type { Config } from '../config/schema.js';
import { noWorkerWarning, STALE_POLLER_MS, workerPollers, workerWarning, type WorkerPoller } from './api.js';
import type { CommandContext } from './context.js';
import type { Output } from './output.js';
import { PgwardenError } from '../domain/errors.js';
import { TemporalOutage, waitFor } from './watch.js';

/** How long nothing may move (no heartbeat, no history event) before the CLI says so. */
export const QUIET_WARNING_MS = 30_000;

/** Waits for `handle`'s result in the foreground of a command. */
export async function followWorkflow<T>(ctx: CommandContext, client: Client, handle: WorkflowHandle, runId: string, what: string): Promise<T> {
  const config = ctx.config;
  // First of all: a Ctrl-C from now on stops the waiting, never the process half-way through saying so.
  const dispose = stopOnFirstSignal(ctx.out, async (signal) => detachedMessage(ctx, handle.workflowId, runId, what, signal));
  try {
    const warning = await workerWarning(client, config);
    if (warning) ctx.out.info(warning);
    const quiet = new QuietWatch();
    const timedOut = new Set<string>();
    let warned = false;
    let saidNoWorker = false;
    let pollersAskedAt = 0;
    const onDescription = (description: WorkflowExecutionDescription) => {
      const now = Date.now();
      // A heartbeat that timed out is news at once: its worker stopped (killed, or hung), and the activity waits for another.
      for (const activity of heartbeatTimeouts(description)) {
        const key = `${activity.activityId}/${activity.attempt}`;
        if (timedOut.has(key)) continue;
        timedOut.add(key);
        warned = true;
        void workerPollers(client, config).then((pollers) => ctx.out.info(heartbeatWarning(config, handle.workflowId, activity, pollers, Date.now())));
      }
      const change = quiet.observe(description, now);
      if (change === 'quiet') {
        warned = true;
        void workerPollers(client, config).then((pollers) => ctx.out.info(quietWarning(config, handle.workflowId, description, pollers, Date.now())));
      } else if (change === 'moving') {
        warned = true;
        saidNoWorker = false;
        ctx.out.info(`${what} is moving again.`);
      }
      // After a warning, the workers Temporal lists may go silent for good: say so once they have.
      if (warned && !saidNoWorker && change !== 'moving' && now - pollersAskedAt >= 10_000) {
        pollersAskedAt = now;
        void workerPollers(client, config).then((pollers) => {
          if (saidNoWorker || pollers === undefined || pollers.some((p) => p.lastSeenMs < STALE_POLLER_MS)) return;
          saidNoWorker = true;
          ctx.out.info(`No worker is running: ${noWorkerWarning(config, pollers).replace(/^warning: /, '')}`);
        });
      }
    };
    const waiting = waitFor<T>(handle, (status) => ctx.out.progress(status), 1_000, onDescription, config.temporal.outageWait);
    waiting.catch(() => undefined); // after an interrupt nobody awaits it any more
    try {
      return await waiting;
    } catch (error) {
      if (!(error instanceof TemporalOutage)) throw error;
      throw new PgwardenError('Unavailable', `${error.message}; gave up waiting. ${followHint(ctx, handle.workflowId, runId, what)}`, { cause: error });
    }
  } finally {
    dispose();
  }
}

/**
 * On the first SIGINT or SIGTERM: runs `handle` (which may clean up) and prints what it returns, then ends the
 * process by that same signal, so that shells, scripts and systemd see an interrupted command (exit status
 * 130 or 143). A second signal meanwhile ends it at once.
 */
export function stopOnFirstSignal(out: Output, handle: (signal: NodeJS.Signals) => Promise<string>): () => void {
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM'];
  const dispose = () => signals.forEach((s) => process.off(s, onSignal));
  const onSignal = (signal: NodeJS.Signals) => {
    dispose();
    void handle(signal)
      .catch((error: unknown) => (error instanceof Error ? error.message : String(error)))
      .then((message) => {
        out.interrupted(message, 128 + (constants.signals[signal] ?? 0));
        process.kill(process.pid, signal);
      });
  };
  signals.forEach((s) => process.on(s, onSignal));
  return dispose;
}

/**
 * Runs `work` in this process (`--local`): the first Ctrl-C or SIGTERM aborts it, lets it clean up, prints
 * `stopped(signal)` and ends the process by that signal.
 */
export async function runInForeground<T>(out: Output, work: (signal: AbortSignal) => Promise<T>, stopped: (signal: NodeJS.Signals) => string): Promise<T> {
  const stop = new AbortController();
  const running = work(stop.signal);
  const dispose = stopOnFirstSignal(out, async (signal) => {
    stop.abort();
    await running.catch(() => undefined);
    return stopped(signal);
  });
  try {
    return await running;
  } catch (error) {
    if (stop.signal.aborted) await new Promise(() => undefined); // the signal handler reports and ends the process
    throw error;
  } finally {
    dispose();
  }
}

function detachedMessage(ctx: CommandContext, workflowId: string, runId: string, what: string, signal: NodeJS.Signals): string {
  return `stopped waiting (${signal}); ${followHint(ctx, workflowId, runId, what)}`;
}

/** That the workflow goes on without this command, and how to follow or cancel it. */
function followHint(ctx: CommandContext, workflowId: string, runId: string, what: string): string {
  const t = ctx.config.temporal;
  const where = `${t.address === 'localhost:7233' ? '' : ` --address ${t.address}`}${t.namespace === 'default' ? '' : ` --namespace ${t.namespace}`}`;
  const link = ctx.workflowLink(workflowId, runId);
  return (
    `${what} goes on in Temporal (workflow ${workflowId}): its workers do not need this command.\n` +
    `  follow it:  temporal workflow show${where} --workflow-id ${workflowId} --follow${link ? `   or ${link}` : ''}\n` +
    `  cancel it:  temporal workflow cancel${where} --workflow-id ${workflowId}   (what it wrote so far is cleaned up)`
  );
}

/** Notices when a workflow stops moving: no new history event, no heartbeat, no retry waiting its turn. */
export class QuietWatch {
  private fingerprint = '';
  private since = 0;
  private warned = false;

  /** 'quiet' once when nothing moved for QUIET_WARNING_MS, 'moving' once when it moves again after that. */
  observe(description: WorkflowExecutionDescription, nowMs: number, quietMs = QUIET_WARNING_MS): 'quiet' | 'moving' | undefined {
    const raw = description.raw;
    const activities = raw.pendingActivities ?? [];
    const waitingForRetry = activities.some((a) => millis(a.nextAttemptScheduleTime) > nowMs);
    const fingerprint = JSON.stringify([
      description.historyLength,
      raw.pendingWorkflowTask?.state,
      activities.map((a) => [a.activityId, a.attempt, a.state, millis(a.lastHeartbeatTime), millis(a.lastStartedTime)]),
    ]);
    if (fingerprint !== this.fingerprint || waitingForRetry || this.since === 0) {
      this.fingerprint = fingerprint;
      this.since = nowMs;
      if (this.warned) {
        this.warned = false;
        return 'moving';
      }
      return undefined;
    }
    if (!this.warned && nowMs - this.since >= quietMs) {
      this.warned = true;
      return 'quiet';
    }
    return undefined;
  }
}

/** What a person needs to know when a workflow has not moved: what it waits for, and which workers Temporal lists. */
export function quietWarning(config: Config, workflowId: string, description: WorkflowExecutionDescription, pollers: WorkerPoller[] | undefined, nowMs: number): string {
  const raw = description.raw;
  const ago = (ms: number) => `${Math.round((nowMs - ms) / 1000)} s`;
  const lines: string[] = [];
  const task = raw.pendingWorkflowTask;
  if (task && !task.startedTime) lines.push(`the workflow has waited ${ago(millis(task.scheduledTime))} for a worker to pick it up`);
  for (const activity of raw.pendingActivities ?? []) {
    const name = activity.activityType?.name ?? 'an activity';
    const heard = Math.max(millis(activity.lastHeartbeatTime), millis(activity.lastStartedTime));
    if (timedOutByHeartbeat(activity) && activity.lastWorkerIdentity) {
      lines.push(
        `${name}'s heartbeat timed out on worker ${activity.lastWorkerIdentity} (last heard from ${ago(heard)} ago): ` +
          `attempt ${activity.attempt} has waited ${ago(millis(activity.lastAttemptCompleteTime) || heard)} for another worker to start it`,
      );
    } else if (activity.lastWorkerIdentity && heard > 0) {
      lines.push(
        `${name} (attempt ${activity.attempt}) was last heard from ${ago(heard)} ago, on worker ${activity.lastWorkerIdentity}: ` +
          'if that worker is gone, Temporal hands the activity to another worker once its heartbeat times out',
      );
    } else {
      lines.push(`${name} has waited ${ago(millis(activity.scheduledTime) || nowMs)} for a worker to start it`);
    }
  }
  const live = (pollers ?? []).filter((p) => p.lastSeenMs < STALE_POLLER_MS);
  const listed = pollers === undefined
    ? 'cannot be listed'
    : pollers.length === 0
      ? 'none'
      : pollers.map((p) => `${p.identity} (last seen ${Math.round(p.lastSeenMs / 1000)} s ago${p.lastSeenMs >= STALE_POLLER_MS ? ': gone' : ''})`).join(', ');
  return [
    `warning: nothing has moved for ${Math.round(QUIET_WARNING_MS / 1000)} s in workflow ${workflowId}:`,
    ...lines.map((line) => `  ${line}`),
    `  workers on task queue "${config.temporal.taskQueue}": ${listed}`,
    pollers !== undefined && live.length === 0
      ? '  No worker is running: start one (`pgwarden worker`). This command keeps waiting; Ctrl-C stops waiting and leaves the workflow running.'
      : '  Check that the workers above are alive (one that was killed is noticed within about 25 s). This command keeps waiting; Ctrl-C stops waiting and leaves the workflow running.',
  ].join('\n');
}

type PendingActivity = NonNullable<WorkflowExecutionDescription['raw']['pendingActivities']>[number];

/** Whether the activity's last attempt ended because its worker stopped heartbeating, and it waits for the next. */
function timedOutByHeartbeat(activity: PendingActivity): boolean {
  const failure = activity.lastFailure;
  const heartbeat = Number(failure?.timeoutFailureInfo?.timeoutType) === 4 /* HEARTBEAT */ || /heartbeat timeout/i.test(failure?.message ?? '');
  return heartbeat && Number(activity.state) === 1 /* SCHEDULED: not started again yet */;
}

function heartbeatTimeouts(description: WorkflowExecutionDescription): PendingActivity[] {
  return (description.raw.pendingActivities ?? []).filter(timedOutByHeartbeat);
}

/** Said as soon as an activity's heartbeat has timed out: which worker stopped, and whether another can take over. */
export function heartbeatWarning(config: Config, workflowId: string, activity: PendingActivity, pollers: WorkerPoller[] | undefined, nowMs: number): string {
  const name = activity.activityType?.name ?? 'an activity';
  const gone = activity.lastWorkerIdentity ?? 'unknown';
  const heard = Math.max(millis(activity.lastHeartbeatTime), millis(activity.lastStartedTime));
  const others = (pollers ?? []).filter((p) => p.identity !== gone && p.lastSeenMs < STALE_POLLER_MS);
  const listed = pollers === undefined ? 'cannot be listed' : pollers.length === 0 ? 'none' : pollers.map((p) => `${p.identity} (last seen ${Math.round(p.lastSeenMs / 1000)} s ago)`).join(', ');
  return [
    `warning: in workflow ${workflowId}, the heartbeat of ${name} timed out: worker ${gone} was last heard from ${heard ? `${Math.round((nowMs - heard) / 1000)} s ago` : 'long ago'} (killed, or hung).`,
    `  Temporal has scheduled attempt ${activity.attempt} for any worker on task queue "${config.temporal.taskQueue}"; workers Temporal lists there: ${listed}`,
    pollers === undefined
      ? '  This command keeps waiting; Ctrl-C stops waiting and leaves the workflow running.'
      : others.length === 0
        ? `  No worker is running but ${gone}, which stopped answering: start one (\`pgwarden worker\`). This command keeps waiting; Ctrl-C stops waiting and leaves the workflow running.`
        : `  Another worker (${others.map((p) => p.identity).join(', ')}) takes it over. This command keeps waiting.`,
  ].join('\n');
}

function millis(timestamp: { seconds?: unknown; nanos?: number | null } | null | undefined): number {
  if (!timestamp) return 0;
  return Number(timestamp.seconds ?? 0) * 1000 + Math.floor((timestamp.nanos ?? 0) / 1e6);
}
