// What Temporal says of a workflow run, asked through the running activity's own client (never a connection of
// its own): who holds a lock, whether a lease's holder or a backup branch's run is still open.
import type { Client, WorkflowExecutionDescription } from '@temporalio/client';
import { WorkflowNotFoundError } from '@temporalio/common';
import type { RunIsOpen } from './catalog/leases.js';
import { activityContext } from './progress.js';

/** The running activity's Temporal client, or undefined outside a worker (`--local`, the CLI, tests). */
export function activityClient(): Client | undefined {
  return activityContext()?.client;
}

/** The run's description (the latest run when `runId` is left out), or undefined when Temporal does not know it. */
export async function describeRun(client: Client, workflowId: string, runId?: string): Promise<WorkflowExecutionDescription | undefined> {
  try {
    return await client.workflow.getHandle(workflowId, runId).describe();
  } catch (error) {
    if (error instanceof WorkflowNotFoundError) return undefined;
    throw error;
  }
}

/**
 * Inside an activity: asks Temporal whether a workflow run is still open (a run it does not know is not); undefined
 * when Temporal cannot tell. Each run is asked once per checker.
 */
export function temporalRunCheck(): RunIsOpen | undefined {
  const client = activityClient();
  if (!client) return undefined;
  const open = new Map<string, boolean | undefined>();
  return async ({ workflowId, runId }) => {
    const key = `${workflowId}/${runId}`;
    if (!open.has(key)) {
      try {
        const description = await describeRun(client, workflowId, runId);
        open.set(key, description?.status.name === 'RUNNING');
      } catch {
        open.set(key, undefined);
      }
    }
    return open.get(key);
  };
}
