// Timeouts and retry policies of pgwarden's activities: one place to read what "retry" means here.
import { ActivityCancellationType, type ActivityOptions } from '@temporalio/workflow';
import { jobTaskQueue } from '../domain/ids.js';

/** Failures that trying again cannot fix: a person has to (see EXIT_CODES in domain/errors.ts). */
export const NON_RETRYABLE = ['Config', 'NotFound', 'Refused', 'Integrity', 'Usage'];

/**
 * How soon a worker that died (kill -9, a lost host) is given up on: every activity heartbeats at least every
 * few seconds (worker/interceptors.ts keeps the quiet ones alive), so 20 s without one means the worker is gone.
 * With the first retry 5 s later, its job moves on to another worker within about 25 s.
 */
const HEARTBEAT_TIMEOUT = '20 seconds';

/** Checks, listings, renames: seconds each. */
export const QUICK: ActivityOptions = {
  startToCloseTimeout: '5 minutes',
  heartbeatTimeout: HEARTBEAT_TIMEOUT,
  retry: { initialInterval: '2s', backoffCoefficient: 2, maximumInterval: '1 minute', maximumAttempts: 5, nonRetryableErrorTypes: NON_RETRYABLE },
};

/**
 * Plans that list the WAL archive (a busy week is tens of thousands of objects): they heartbeat every page of the
 * listing, so they may take longer than a quick step while a worker that died is still noticed as quickly.
 */
export const LISTING: ActivityOptions = {
  startToCloseTimeout: '1 hour',
  heartbeatTimeout: HEARTBEAT_TIMEOUT,
  retry: QUICK.retry!,
};

/**
 * Dumps, restores, copies: hours for big databases, so liveness comes from heartbeats, not the timeout.
 * Five attempts: a worker stopped by a deploy or killed costs one, and that must not use up the job's retries.
 */
export const LONG: ActivityOptions = {
  startToCloseTimeout: '24 hours',
  heartbeatTimeout: HEARTBEAT_TIMEOUT,
  retry: { initialInterval: '5s', backoffCoefficient: 2, maximumInterval: '10 minutes', maximumAttempts: 5, nonRetryableErrorTypes: NON_RETRYABLE },
};

/**
 * Removing what a failed backup left: retried until the repository answers again (an outage of storage is
 * exactly when a backup fails), for up to a week; after that retention removes the folder.
 */
export const UNTIL_STORAGE_IS_BACK: ActivityOptions = {
  startToCloseTimeout: '30 minutes',
  heartbeatTimeout: HEARTBEAT_TIMEOUT,
  scheduleToCloseTimeout: '7 days',
  retry: { initialInterval: '10s', backoffCoefficient: 2, maximumInterval: '2 minutes', nonRetryableErrorTypes: NON_RETRYABLE }, // no attempt limit
};

/** Notifications: a channel that is down is tried again with growing pauses for half a day, never failing the job. */
export const NOTIFY: ActivityOptions = {
  startToCloseTimeout: '30 seconds',
  scheduleToCloseTimeout: '12 hours',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '5 minutes', nonRetryableErrorTypes: ['Config', 'Usage'] },
};

/** Neon API calls: each call rides out 423/429/5xx for up to two minutes itself; Temporal retries on top. */
export const NEON_API: ActivityOptions = {
  startToCloseTimeout: '5 minutes',
  retry: { initialInterval: '5s', backoffCoefficient: 2, maximumInterval: '1 minute', maximumAttempts: 6, nonRetryableErrorTypes: NON_RETRYABLE },
};

/** Waiting for Neon's operations: polls, heartbeating; a branch takes seconds, a busy project minutes. */
export const NEON_WAIT: ActivityOptions = {
  startToCloseTimeout: '30 minutes',
  heartbeatTimeout: '1 minute',
  retry: { initialInterval: '10s', backoffCoefficient: 2, maximumInterval: '1 minute', maximumAttempts: 5, nonRetryableErrorTypes: NON_RETRYABLE },
};

/** Patch id: Neon steps heartbeat like every other step (runs from before keep the options their history names). */
export const NEON_HEARTBEATS = 'neon-steps-heartbeat-timeout';

/** NEON_API for runs from NEON_HEARTBEATS on: a worker that died during a Neon call is noticed in 20 s, not 5 minutes. */
export const NEON_API_STEP: ActivityOptions = { ...NEON_API, heartbeatTimeout: HEARTBEAT_TIMEOUT };

/** NEON_WAIT for runs from NEON_HEARTBEATS on (it heartbeats every poll, and the worker's keep-alive in between). */
export const NEON_WAIT_STEP: ActivityOptions = { ...NEON_WAIT, heartbeatTimeout: HEARTBEAT_TIMEOUT };

/** Patch id: long jobs moved to their own task queues (runs from before keep the main one on replay). */
export const JOB_QUEUES = 'long-jobs-on-job-task-queues';

/**
 * Patch id: verification, retention's deletes and pre-migration copies and read-backs also run on the job task
 * queues, so they count against worker.maxConcurrentJobs like dumps and restores (runs from before keep the main
 * queue on replay).
 */
export const HEAVY_WORK_ON_JOB_QUEUES = 'heavy-work-on-job-queues';

/**
 * LONG on the task queue of `jobs` (backups or restores), for runs that start from now on; a run that began on an
 * older pgwarden keeps the queue its history already names (replay must match it).
 */
export function jobOptions(taskQueue: string, jobs: 'backups' | 'restores', onJobQueue: boolean): ActivityOptions {
  return onJobQueue ? { ...LONG, taskQueue: jobTaskQueue(taskQueue, jobs) } : LONG;
}

/** Patch id: a cancelled backup cleans up only once its dump (or copy) has stopped (runs from before did not wait). */
export const STOP_BEFORE_CLEAN_UP = 'backup-clean-up-after-the-dump-stopped';

/**
 * `options` for a step whose cancellation the workflow waits out, when `wait` (STOP_BEFORE_CLEAN_UP): a cancelled
 * backup removes what it wrote after the dump has stopped writing, not beside it, and the dump hears "cancelled"
 * while its workflow still runs (else it learns of it only from a heartbeat that finds the workflow gone).
 */
export function stopBeforeCleanUp(options: ActivityOptions, wait: boolean): ActivityOptions {
  return wait ? { ...options, cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED } : options;
}
