// Follows a running workflow: its activities' heartbeats become progress, its failure becomes a PgwardenError.
import { defaultPayloadConverter } from '@temporalio/common';
import { TemporalFailure, WorkflowFailedError, type WorkflowExecutionDescription, type WorkflowHandle } from '@temporalio/client';
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
 * Waits for the result, calling `onStatus` about once a second with what the activities report (and
 * `onDescription` with the whole description, for whoever watches whether anything moves).
 */
export async function waitFor<T>(
  handle: WorkflowHandle,
  onStatus?: (status: ActivityStatus) => void,
  everyMs = 1_000,
  onDescription?: (description: WorkflowExecutionDescription) => void,
): Promise<T> {
  let done = false;
  const poll = async () => {
    while (!done && onStatus) {
      try {
        const description = await handle.describe();
        if (!done) onDescription?.(description);
        for (const status of statusesOf(description)) if (!done) onStatus(status);
      } catch {
        /* progress is best effort; the result below is what counts */
      }
      await sleep(everyMs);
    }
  };
  const polling = poll();
  try {
    return (await handle.result()) as T;
  } catch (error) {
    throw asPgwardenError(error);
  } finally {
    done = true;
    await polling;
  }
}

/** What the workflow's running activities report in their heartbeats. */
export async function activityStatuses(handle: WorkflowHandle): Promise<ActivityStatus[]> {
  return statusesOf(await handle.describe());
}

function statusesOf(description: WorkflowExecutionDescription): ActivityStatus[] {
  return (description.raw.pendingActivities ?? []).map((pending) => {
    const payload = pending.heartbeatDetails?.payloads?.[0];
    const status: ActivityStatus = { activity: pending.activityType?.name ?? 'activity', attempt: pending.attempt ?? 1 };
    if (payload) status.progress = defaultPayloadConverter.fromPayload<Progress>(payload);
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
