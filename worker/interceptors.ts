// Turns pgwarden's errors into Temporal failures whose type is the failure kind (and retryable only when it helps).
import { ApplicationFailure } from '@temporalio/common';
import type { ActivityExecuteInput, ActivityInboundCallsInterceptor, Next } from '@temporalio/worker';
import { PgwardenError } from '../config/errors.js';

export class FailureKindInterceptor implements ActivityInboundCallsInterceptor {
  async execute(input: ActivityExecuteInput, next: Next<ActivityInboundCallsInterceptor, 'execute'>): Promise<unknown> {
    try {
      return await next(input);
    } catch (error) {
      if (error instanceof PgwardenError) {
        throw ApplicationFailure.create({ message: error.message, type: error.kind, nonRetryable: !error.retryable });
      }
      throw error;
    }
  }
}
