// The failure that says what went wrong, found in the chain of causes Temporal wraps around it (a workflow's
// failure around a child's, around an activity's, around the ApplicationFailure a PgwardenError became).
import { ApplicationFailure } from '@temporalio/common';
import { isFailureKind } from './errors.js';

/** The innermost failure with a pgwarden kind: its kind picks the exit code, its message says what happened. */
export function innermostPgwardenFailure(error: unknown): ApplicationFailure | undefined {
  let best: ApplicationFailure | undefined;
  for (let cause: unknown = error; cause instanceof Error; cause = cause.cause) {
    if (cause instanceof ApplicationFailure && isFailureKind(cause.type)) best = cause;
  }
  return best;
}
