// Retention: which backups and which WAL may go, decided from the repository alone (plan.ts), then deleted
// (apply.ts). The plan is an activity result, so the workflow's history says exactly what was removed and why.
import type { Config } from '../../config/schema.js';
import { resolveDatabase } from '../database-context.js';
import { applyExpiry } from './apply.js';
import type { ExpiryPlan } from './inputs.js';
import { planExpiry } from './plan.js';

export * from './inputs.js';

export function expireActivities(config: Config) {
  return {
    async planExpiry(input: { database: string; nowMs: number }): Promise<ExpiryPlan> {
      return planExpiry(resolveDatabase(config, input.database), input.nowMs);
    },
    /**
     * Deletes what the plan names: manifests first, so an interrupted delete leaves nothing that looks restorable.
     * A backup that a reader took a lease on since the plan was made stays (see activities/hold/).
     */
    async applyExpiry(plan: ExpiryPlan): Promise<{ deletedObjects: number; locked: ExpiryPlan['locked']; held: ExpiryPlan['held'] }> {
      return applyExpiry(config, plan);
    },
  };
}
