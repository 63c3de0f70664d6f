// Waiting for the holder of a database's backup lock to end, without holding an activity slot: a watcher in this
// process heartbeats the waiting activity and completes it asynchronously through the worker's own client.
import { ActivityCancelledError, type Client } from '@temporalio/client';
import { sleep } from '../sleep.js';

/** The running workflow that holds a database's backup lock (pgwarden-backup-<db>). */
export interface LockHolder {
  workflowId: string;
  runId: string;
  /** What it is, for people: "the daily backup", "the pre-migration backup of migration 42 (…)". */
  what: string;
  startedAt: string;
}

/**
 * Heartbeats the waiting activity every few seconds and completes it when the holder's run has ended. Uses the
 * worker's own Temporal client (handed over by the activity context), never a connection of its own.
 */
export async function watchLockHolder(client: Client, taskToken: Uint8Array, input: { holder: LockHolder; deadlineMs: number }): Promise<void> {
  const started = Date.now();
  const stopPolling = new AbortController(); // ends the long poll for the holder's result when the watch ends
  try {
    const ended = client
      .withAbortSignal(stopPolling.signal, () => client.workflow.getHandle(input.holder.workflowId, input.holder.runId).result())
      .then(
        () => true,
        () => true, // failed, cancelled, terminated: the lock is free all the same
      );
    for (;;) {
      const left = input.deadlineMs - Date.now();
      const done = await Promise.race([ended, sleep(Math.max(0, Math.min(HEARTBEAT_MS, left))).then(() => false as const)]);
      if (done || left <= 0) {
        await client.activity.complete(taskToken, { ended: done, waitedMs: Date.now() - started });
        return;
      }
      await client.activity.heartbeat(taskToken, { phase: `waiting for ${input.holder.what} to finish`, bytesDone: 0 });
    }
  } catch (error) {
    // Cancelled: say so. Anything else (the activity timed out, Temporal unreachable): the heartbeats stop and
    // the workflow's retry policy runs the wait again.
    if (error instanceof ActivityCancelledError) await client.activity.reportCancellation(taskToken).catch(() => undefined);
  } finally {
    stopPolling.abort();
  }
}

// Well inside the activities' 20 s heartbeat timeout (workflows/policies.ts): a dead worker's wait moves on quickly.
const HEARTBEAT_MS = 5_000;
