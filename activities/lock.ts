// The database lock's one step on a worker (workflows/lock.ts): a run refused by a lock whose holder has already
// ended waits the moment Temporal takes to remove it, as the CLI does (client/api.ts), instead of being refused.
import { activityClient, lockBeingReleased } from './workflow-runs.js';

export function lockActivities() {
  return {
    /**
     * True once lock `lockId` is gone, when the run that held it has ended (Temporal terminates the lock a moment
     * after, by its parent close policy; this waits up to 10 s for that); false at once while its holder runs.
     */
    async lockReleased(input: { lockId: string }): Promise<boolean> {
      const client = activityClient();
      return client ? lockBeingReleased(client, input.lockId) : false;
    },
  };
}
