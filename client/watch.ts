// Follows a running workflow: its activities' heartbeats become progress, its failure becomes a PgwardenError.
import { defaultPayloadConverter } from '@temporalio/common';
import { isGrpcServiceError, TemporalFailure, WorkflowFailedError, type WorkflowExecutionDescription, type WorkflowHandle } from '@temporalio/client';
import { PgwardenError } from '../domain/errors.js';
import { innermostPgwardenFailure } from '../domain/failures.js';
import type { Progress } from '../domain/progress.js';
import { sleep } from '../activities/sleep.js';

export interface ActivityStatus {
  activity: string;
  attempt: number;
  progress?: Progress;
  lastFailure?: string;
}

/**
 * How long the waiting rides out Temporal being unreachable (a restart, a failover) before it gives up: the
 * workflow does not need the waiting command, so giving up stops only the waiting. The CLI's commands use
 * `temporal.outageWait` (the same 60 s unless set).
 */
export const TEMPORAL_OUTAGE_MS = 60_000;

/** Temporal did not answer for `outageMs` while a command waited on `workflowId`; the workflow itself goes on. */
export class TemporalOutage extends Error {
  constructor(
    readonly workflowId: string,
    readonly outageMs: number,
    options: { cause: unknown },
  ) {
    super(`Temporal could not be reached for ${Math.round(outageMs / 1000)} s while waiting for workflow ${workflowId}`, options);
  }
}

class Unanswered extends Error {}

/** Whether `error` says the Temporal server could not be reached (down, restarting, network), not that it refused. */
export function temporalUnreachable(error: unknown): boolean {
  for (let e: unknown = error; e instanceof Error; e = e.cause) {
    if (e instanceof Unanswered) return true;
    if (isGrpcServiceError(e) && (e.code === 14 /* UNAVAILABLE */ || e.code === 4 /* DEADLINE_EXCEEDED */)) return true;
  }
  return false;
}

/**
 * Waits for the result, calling `onStatus` about once a second with what the activities report (and
 * `onDescription` with the whole description, for whoever watches whether anything moves).
 */
export async function waitFor<T>(
  handle: WorkflowHandle,
  onStatus?: (status: ActivityStatus) => void,
  everyMs = 1_000,
  onDescription?: (description: WorkflowExecutionDescription) => void,
  outageMs = TEMPORAL_OUTAGE_MS,
): Promise<T> {
  let done = false;
  // Aborts the calls still out when the waiting ends: one left retrying on a connection the command then closes
  // would throw ("Channel has been shut down") out of nowhere.
  const stop = new AbortController();
  // Each description has a signal of its own, aborted once it is answered: one signal shared by every poll gathered
  // an abort listener per call (Node warned of a leak after ten), and each poll's 10 s timer outlived the poll.
  const calls = new Set<AbortController>();
  // When Temporal last answered: the description below is asked for every `everyMs`, the result is a long poll
  // that may hang while the server is away, so the description is what notices an outage.
  let answeredAt = Date.now();
  let outage: (error: TemporalOutage) => void = () => undefined;
  const lost = new Promise<never>((_, reject) => (outage = reject));
  lost.catch(() => undefined);
  let lastError: unknown;
  const poll = async () => {
    while (!done) {
      try {
        // A call to a server that went away may hang rather than fail: no answer in 10 s counts as unreachable.
        const call = new AbortController();
        calls.add(call);
        const description = await Promise.race([
          handle.client.withAbortSignal(call.signal, () => handle.describe()),
          sleep(10_000, call.signal).then(() => undefined),
        ]).finally(() => {
          calls.delete(call);
          call.abort();
        });
        if (!description) throw new Unanswered();
        answeredAt = Date.now();
        if (!done) onDescription?.(description);
        for (const status of statusesOf(description)) if (!done) onStatus?.(status);
      } catch (error) {
        // Progress is best effort; an unreachable Temporal for `outageMs` ends the waiting (not the workflow).
        if (temporalUnreachable(error)) {
          lastError = error;
          if (Date.now() - answeredAt >= outageMs) outage(new TemporalOutage(handle.workflowId, Date.now() - answeredAt, { cause: error }));
        } else answeredAt = Date.now();
      }
      // Cut short when the waiting ends: the result must not wait for the next round of the poll (up to `everyMs`).
      await sleep(everyMs, stop.signal).catch(() => undefined);
    }
  };
  const polling = poll();
  const result = async (): Promise<T> => {
    // Temporal unreachable: ask again with back-off until it answers (or the poll above gives up).
    for (let pause = 500; ; pause = Math.min(pause * 2, 5_000)) {
      try {
        return (await handle.client.withAbortSignal(stop.signal, () => handle.result())) as T;
      } catch (error) {
        if (stop.signal.aborted) throw error;
        if (!temporalUnreachable(error)) throw error;
        lastError = error;
        if (Date.now() - answeredAt >= outageMs) throw new TemporalOutage(handle.workflowId, Date.now() - answeredAt, { cause: lastError });
        await sleep(pause);
      }
    }
  };
  const resulting = result();
  resulting.catch(() => undefined); // once the outage wins the race, nobody awaits it
  try {
    return await Promise.race([resulting, lost]);
  } catch (error) {
    throw asPgwardenError(error);
  } finally {
    done = true;
    stop.abort();
    for (const call of calls) call.abort();
    await polling;
  }
}

/** What the workflow's running activities report in their heartbeats. */
export async function activityStatuses(handle: WorkflowHandle): Promise<ActivityStatus[]> {
  return statusesOf(await handle.describe());
}

export function statusesOf(description: Pick<WorkflowExecutionDescription, 'raw'>): ActivityStatus[] {
  return (description.raw.pendingActivities ?? []).map((pending) => {
    const payload = pending.heartbeatDetails?.payloads?.[0];
    const status: ActivityStatus = { activity: pending.activityType?.name ?? 'activity', attempt: pending.attempt ?? 1 };
    // Its last attempt stopped heartbeating: the progress it reported is old news, its worker is gone (or hung).
    if (Number(pending.state) === 1 /* SCHEDULED */ && /heartbeat/i.test(pending.lastFailure?.message ?? '')) {
      status.progress = { phase: 'its worker stopped answering: waiting for a worker to take it up again', bytesDone: 0 };
    } else if (payload) status.progress = defaultPayloadConverter.fromPayload<Progress>(payload);
    // Scheduled, not started, not failed: every worker runs as many jobs as it may (worker.maxConcurrentJobs).
    else if (Number(pending.state) === 1 /* SCHEDULED */ && !pending.lastFailure) status.progress = { phase: 'queued: waiting for a worker with a free job slot', bytesDone: 0 };
    if (pending.lastFailure?.message) status.lastFailure = pending.lastFailure.message;
    return status;
  });
}

/** The innermost failure with a pgwarden kind decides the message and exit code. */
export function asPgwardenError(error: unknown): unknown {
  if (error instanceof PgwardenError) return error;
  if (!(error instanceof WorkflowFailedError)) return error;
  const best = innermostPgwardenFailure(error.cause);
  let last: TemporalFailure | undefined;
  for (let cause: unknown = error.cause; cause instanceof TemporalFailure; cause = cause.cause) last = cause;
  if (best) return new PgwardenError(best.type as never, best.message);
  return new PgwardenError('Failed', last?.message ?? error.message, { cause: error });
}
