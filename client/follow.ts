// What the CLI does while it waits for a workflow: progress on stderr; a warning when nothing has moved for a
// while, saying why (no worker, a worker gone quiet); and on the first Ctrl-C or SIGTERM it stops waiting,
// says how to follow or cancel the workflow, and leaves it running in Temporal.
import { constants } from 'node:os';
import type { Client, WorkflowExecutionDescription, WorkflowHandle } from '@temporalio/client';
import type { Config } from '../config/schema.js';
import { STALE_POLLER_MS, workerPollers, workerWarning, type WorkerPoller } from './api.js';
import type { CommandContext } from './context.js';
import type { Output } from './output.js';
import { waitFor } from './watch.js';

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
    const onDescription = (description: WorkflowExecutionDescription) => {
      const change = quiet.observe(description, Date.now());
      if (change === 'quiet') {
        void workerPollers(client, config).then((pollers) => ctx.out.info(quietWarning(config, handle.workflowId, description, pollers, Date.now())));
      } else if (change === 'moving') {
        ctx.out.info(`${what} is moving again.`);
      }
    };
    const waiting = waitFor<T>(handle, (status) => ctx.out.progress(status), 1_000, onDescription);
    waiting.catch(() => undefined); // after an interrupt nobody awaits it any more
    return await waiting;
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
  const t = ctx.config.temporal;
  const where = `${t.address === 'localhost:7233' ? '' : ` --address ${t.address}`}${t.namespace === 'default' ? '' : ` --namespace ${t.namespace}`}`;
  const link = ctx.workflowLink(workflowId, runId);
  return (
    `stopped waiting (${signal}); ${what} goes on in Temporal (workflow ${workflowId}).\n` +
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
    if (activity.lastWorkerIdentity && heard > 0) {
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

function millis(timestamp: { seconds?: unknown; nanos?: number | null } | null | undefined): number {
  if (!timestamp) return 0;
  return Number(timestamp.seconds ?? 0) * 1000 + Math.floor((timestamp.nanos ?? 0) / 1e6);
}
