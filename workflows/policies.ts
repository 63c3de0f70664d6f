// Timeouts and retry policies of pgwarden's activities: one place to read what "retry" means here.
import type { ActivityOptions } from '@temporalio/workflow';

/** Failures that trying again cannot fix: a person has to (see EXIT_CODES in config/errors.ts). */
export const NON_RETRYABLE = ['Config', 'NotFound', 'Refused', 'Integrity', 'Usage'];

/** Checks, listings, renames: seconds each. */
export const QUICK: ActivityOptions = {
  startToCloseTimeout: '5 minutes',
  retry: { initialInterval: '2s', backoffCoefficient: 2, maximumInterval: '1 minute', maximumAttempts: 5, nonRetryableErrorTypes: NON_RETRYABLE },
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
