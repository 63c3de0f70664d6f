// The steps of a point-in-time restore, in the order the workflow calls them: pick a worker (its host), plan (and
// refuse what the archive cannot do) before anything is written, restore a base backup into a NEW data directory,
// write the recovery settings, recover through wal-fetch and promote, verify; discard the copy when a step fails.
// Every step after the first runs on that worker's host. The cluster the backup came from is never touched.
import type { Config } from '../../config/schema.js';
import type { Progress } from '../../domain/progress.js';
import { currentReporter, reportEvery } from '../progress.js';
import { configureRecovery, type ConfigureRecoveryInput } from './configure.js';
import { discardRestoredCluster, type DiscardInput } from './discard.js';
import { pitrHost } from './host.js';
import { planPitr, type PlanPitrInput } from './plan.js';
import { recoverCluster, verifyRestoredCluster, type RecoverInput, type VerifyInput } from './recover.js';
import { restoreBaseBackup, type RestoreBaseInput } from './restore-base.js';

export type { PitrHost } from './host.js';
export type { PitrPlan } from './plan.js';

export function pitrActivities(config: Config) {
  return {
    pitrHost: async () => pitrHost(config),
    planPitr: (input: PlanPitrInput) => alive('planning', () => planPitr(config, input)),
    restoreBaseBackup: (input: RestoreBaseInput) => restoreBaseBackup(config, input),
    configureRecovery: (input: ConfigureRecoveryInput) => alive('writing recovery settings', () => configureRecovery(config, input)),
    recoverCluster: (input: RecoverInput) => recoverCluster(config, input),
    verifyRestoredCluster: (input: VerifyInput) => alive('verifying', () => verifyRestoredCluster(config, input)),
    discardRestoredCluster: (input: DiscardInput) => alive('removing the restored cluster', () => discardRestoredCluster(config, input)),
  };
}

/** Heartbeats while a short step runs: a host that died is noticed in seconds, not at the step's time-out. */
async function alive<T>(phase: string, step: () => Promise<T>): Promise<T> {
  const stop = reportEvery(currentReporter(), (): Progress => ({ phase, bytesDone: 0 }));
  try {
    return await step();
  } finally {
    stop();
  }
}
