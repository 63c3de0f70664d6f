// The steps of a point-in-time restore, in the order the workflow calls them: plan (and refuse what the archive
// cannot do) before anything is written, restore a base backup into a NEW data directory, write the recovery
// settings, recover through wal-fetch and promote, verify; discard the copy when a step fails. The cluster the
// backup came from is never touched.
import type { Config } from '../../config/schema.js';
import { configureRecovery, type ConfigureRecoveryInput } from './configure.js';
import { discardRestoredCluster, type DiscardInput } from './discard.js';
import { planPitr, type PlanPitrInput } from './plan.js';
import { recoverCluster, verifyRestoredCluster, type RecoverInput, type VerifyInput } from './recover.js';
import { restoreBaseBackup, type RestoreBaseInput } from './restore-base.js';

export type { PitrPlan } from './plan.js';

export function pitrActivities(config: Config) {
  return {
    planPitr: (input: PlanPitrInput) => planPitr(config, input),
    restoreBaseBackup: (input: RestoreBaseInput) => restoreBaseBackup(config, input),
    configureRecovery: (input: ConfigureRecoveryInput) => configureRecovery(config, input),
    recoverCluster: (input: RecoverInput) => recoverCluster(config, input),
    verifyRestoredCluster: (input: VerifyInput) => verifyRestoredCluster(config, input),
    discardRestoredCluster: (input: DiscardInput) => discardRestoredCluster(config, input),
  };
}
