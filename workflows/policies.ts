// Timeouts and retry policies of pgwarden's activities: one place to read what "retry" means here.
import type { ActivityOptions } from '@temporalio/workflow';
import { jobTaskQueue } from './messages.js';

/** Failures that trying again cannot fix: a person has to (see EXIT_CODES in config/errors.ts). */
export const NON_RETRYABLE = ['Config', 'NotFound', 'Refused', 'Integrity', 'Usage'];

/** Checks, listings, renames: seconds each. */
export const QUICK: ActivityOptions = {
  startToCloseTimeout: '5 minutes',
  retry: { initialInterval: '2s', backoffCoefficient: 2, maximumInterval: '1 minute', maximumAttempts: 5, nonRetryableErrorTypes: NON_RETRYABLE },
};

/**
 * Plans that list the WAL archive (a busy week is tens of thousands of objects): they heartbeat every page of the
 * listing, so they may take longer than a quick step while a worker that died is still noticed within minutes.
 */
export const LISTING: ActivityOptions = {
  startToCloseTimeout: '1 hour',
  heartbeatTimeout: '2 minutes',
  retry: QUICK.retry!,
};

/** Dumps, restores, copies: hours for big databases, so liveness comes from heartbeats, not the timeout. */
export const LONG: ActivityOptions = {
  startToCloseTimeout: '24 hours',
  heartbeatTimeout: '2 minutes',
  retry: { initialInterval: '30s', backoffCoefficient: 2, maximumInterval: '10 minutes', maximumAttempts: 3, nonRetryableErrorTypes: NON_RETRYABLE },
};

/** Notifications: a channel that is down is tried again with growing pauses for half a day, never failing the job. */
export const NOTIFY: ActivityOptions = {
  startToCloseTimeout: '30 seconds',
  scheduleToCloseTimeout: '12 hours',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '5 minutes', nonRetryableErrorTypes: ['Config', 'Usage'] },
};

/** Patch id: long jobs moved to their own task queues (runs from before keep the main one on replay). */
export const JOB_QUEUES = 'long-jobs-on-job-task-queues';

/**
 * LONG on the job task queue of `kind`, for runs that start from now on; a run that began on an older pgwarden
 * keeps the queue its history already names (replay must match it).
 */
export function jobOptions(taskQueue: string, kind: 'backups' | 'restores', onJobQueue: boolean): ActivityOptions {
  return onJobQueue ? { ...LONG, taskQueue: jobTaskQueue(taskQueue, kind) } : LONG;
}
