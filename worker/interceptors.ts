// Turns pgwarden's errors into Temporal failures whose type is the failure kind (and retryable only when it helps),
// keeps every activity's heartbeat going, and makes an activity stopped by its worker's shutdown a retryable failure.
import { Context } from '@temporalio/activity';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import type { ActivityExecuteInput, ActivityInboundCallsInterceptor, Next } from '@temporalio/worker';
import { PgwardenError } from '../domain/errors.js';
import { cancelReason, keepAlive } from '../activities/progress.js';

/** The failure type of an attempt that its worker stopped: retried at once elsewhere (not in NON_RETRYABLE). */
export const WORKER_STOPPED = 'WorkerStopped';

export class FailureKindInterceptor implements ActivityInboundCallsInterceptor {
  async execute(input: ActivityExecuteInput, next: Next<ActivityInboundCallsInterceptor, 'execute'>): Promise<unknown> {
    const stopBeating = keepAlive();
    try {
      return await next(input);
    } catch (error) {
      throw asTemporalFailure(error);
    } finally {
      stopBeating();
    }
  }
}

/**
 * Whatever an activity threw once its cancellation signal fired (a killed pg_dump, an aborted upload) says
 * "cancelled"; what matters is why. A workflow that asked for cancellation gets a cancellation. A worker
 * that shuts down (SIGTERM on a deploy) fails the attempt as retryable, so another worker (or this one after
 * its restart) takes the job over instead of failing it for good. A timed-out attempt is already replaced.
 */
function asTemporalFailure(error: unknown): unknown {
  const context = Context.current();
  const why = cancelReason(context);
  if (why === 'WORKER_SHUTDOWN' || why === 'TIMED_OUT' || why === 'NOT_FOUND') {
    const { activityType, attempt } = context.info;
    // NOT_FOUND: Temporal no longer knows the attempt: given up (as TIMED_OUT), or its workflow ended (cancelled,
    // failed, terminated); which, the heartbeat does not say.
    const because =
      why === 'WORKER_SHUTDOWN'
        ? 'its worker shut down: Temporal runs it again, on another worker or on this one after its restart.'
        : why === 'TIMED_OUT'
          ? 'Temporal stopped hearing from it: Temporal runs it again, on another worker or on this one after its restart.'
          : 'Temporal no longer knows this attempt: its workflow was cancelled or has ended, or the attempt was given up and runs again.';
    return ApplicationFailure.create({
      message: `${activityType} (attempt ${attempt}) stopped because ${because}`,
      type: WORKER_STOPPED,
      nonRetryable: false,
      // Nothing is wrong with the job: the next attempt need not wait for the policy's back-off.
      ...(why === 'WORKER_SHUTDOWN' ? { nextRetryDelay: '1s' } : {}),
    });
  }
  // Cancelled by the workflow, paused or reset: the SDK reports a CancelledFailure as exactly that.
  if (why !== undefined && context.cancellationSignal.reason instanceof CancelledFailure) return context.cancellationSignal.reason;
  if (error instanceof PgwardenError) {
    return ApplicationFailure.create({ message: error.message, type: error.kind, nonRetryable: !error.retryable });
  }
  return error;
}
