// Activities of the logical restore workflow: plan and check, load into a staging database and verify it,
// then give it the target's name. Nothing existing is touched before a verified copy is in place.
import { PgwardenError } from '../../domain/errors.js';
import type { Config } from '../../config/schema.js';
import type { PlanRestoreInput, PublishInput, RestoreLogicalInput, RestoreLogicalOutput, RestorePlan } from './inputs.js';
import { resolveDatabase } from '../database-context.js';
import { connectMaintenance, dropDatabase } from '../postgres/load.js';
import { withRestoreLock } from '../postgres/restore-lock.js';
import { swapIn } from '../postgres/swap.js';
import { restoreIntoFreshProject, type FreshProjectRestoreInput } from '../providers/supabase-restore.js';
import { restoreLogical } from './load.js';
import { restoreLockName, runOfStaging } from './names.js';
import { planRestore } from './plan.js';

export { stagingName } from './names.js';
export * from './inputs.js';

export function restoreActivities(config: Config) {
  const activities = unlockedRestoreActivities(config);
  // Loading and renaming hold the database's restore lock (activities/postgres/restore-lock.ts).
  const locked = <I extends { database: string; staging: string; server?: 'drill' }, O>(step: (input: I) => Promise<O>) => async (input: I) =>
    withRestoreLock(await resolveDatabase(config, input.database).restoreTarget(input.server), restoreLockName(input), runOfStaging(input.staging), () => step(input));
  return { ...activities, restoreLogical: locked(activities.restoreLogical), publishRestore: locked(activities.publishRestore) };
}

function unlockedRestoreActivities(config: Config) {
  return {
    async planRestore(input: PlanRestoreInput): Promise<RestorePlan> {
      return planRestore(resolveDatabase(config, input.database), input);
    },

    async restoreLogical(input: RestoreLogicalInput): Promise<RestoreLogicalOutput> {
      return restoreLogical(resolveDatabase(config, input.database), input);
    },

    async restoreIntoFreshProject(input: FreshProjectRestoreInput): Promise<RestoreLogicalOutput> {
      return restoreIntoFreshProject(config, input);
    },

    /**
     * Gives the verified staging database the target's name; a replaced database is renamed, never dropped. Both
     * renames are one transaction: whatever fails or crashes in between, the target's name is never missing.
     * Safe to retry: a retry after the commit finds the restored copy under the target's name and reports it.
     */
    async publishRestore(input: PublishInput): Promise<{ previousDatabaseKeptAs?: string }> {
      return swapIn(await resolveDatabase(config, input.database).restoreTarget(input.server), input);
    },

    /** Compensation: removes a staging database that a failed or cancelled restore left. */
    async dropStagingDatabase(input: { database: string; staging: string; server?: 'drill' }): Promise<void> {
      if (!input.staging.includes('_pgwrestore_')) throw new PgwardenError('Failed', `Refusing to drop "${input.staging}": not a pgwarden staging database.`);
      const client = await connectMaintenance(await resolveDatabase(config, input.database).restoreTarget(input.server), 'restore cleanup');
      try {
        await dropDatabase(client, input.staging);
      } finally {
        await client.end().catch(() => undefined);
      }
    },
  };
}
