// What Temporal says of a workflow run, asked through the running activity's own client (never a connection of
// its own): who holds a lock, whether a lease's holder or a backup branch's run is still open.
import type { Client, WorkflowExecutionDescription } from '@temporalio/client';
import { WorkflowNotFoundError } from '@temporalio/common';
import { WORKFLOW_TYPES } from '../domain/ids.js';
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

/**
 * The lock is a databaseLockWorkflow whose run has ended: Temporal terminates it a moment later (its parent close
 * policy, applied after the parent closed). A start right after a UI run ended is not refused for that moment: this
 * waits (up to 10 s) for the termination. True once the lock is gone.
 */
export async function lockBeingReleased(client: Client, workflowId: string): Promise<boolean> {
  const lock = await describeRun(client, workflowId).catch(() => undefined);
  // Gone (or ended) between the refused start and this look: Temporal has just removed it. Start again.
  if (!lock || lock.status.name !== 'RUNNING') return true;
  const parent = lock.type === 'databaseLockWorkflow' ? lock.raw.workflowExecutionInfo?.parentExecution : undefined;
  if (!parent?.workflowId || !parent.runId) return false;
  const holder = await describeRun(client, parent.workflowId, parent.runId).catch(() => undefined);
  if (!holder || holder.status.name === 'RUNNING') return false;
  for (const deadline = Date.now() + 10_000; Date.now() < deadline; ) {
    const now = await describeRun(client, workflowId, lock.runId).catch(() => undefined);
    if (!now || now.status.name !== 'RUNNING') return true;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return false;
}

/** A workflow run as Temporal lists it: enough to tell whether any worker can serve it. */
export interface ListedRun {
  workflowId: string;
  runId: string;
  type: string;
  taskQueue: string;
}

/**
 * A worker that is alive polls again at least every minute (a long poll lasts about 60 s); Temporal keeps listing
 * one that stopped for minutes more.
 */
const LIVE_POLLER_MS = 90_000;

/**
 * Why no pgwarden worker will ever run `run` (a start from the UI with a typo in the task queue or the workflow
 * type, which waits silently for ever), or undefined when one can, or Temporal cannot tell.
 */
export async function unservedReason(client: Client, run: Pick<ListedRun, 'type' | 'taskQueue'>): Promise<string | undefined> {
  if (!(WORKFLOW_TYPES as readonly string[]).includes(run.type)) {
    const meant = WORKFLOW_TYPES.find((t) => t.toLowerCase() === run.type.toLowerCase().replace(/[^a-z]/g, '') || t.toLowerCase() === `${run.type.toLowerCase()}workflow`);
    return `no pgwarden worker hosts workflow type "${run.type}"${meant ? ` (pgwarden's is "${meant}": names are case-sensitive)` : ''}`;
  }
  try {
    const response = await client.workflowService.describeTaskQueue({
      namespace: client.options.namespace,
      taskQueue: { name: run.taskQueue, kind: 1 /* NORMAL */ },
      taskQueueType: 1 /* WORKFLOW */,
    });
    const now = Date.now();
    const live = (response.pollers ?? []).some((p) => {
      const seen = p.lastAccessTime ? Number(p.lastAccessTime.seconds ?? 0) * 1000 + Math.floor((p.lastAccessTime.nanos ?? 0) / 1e6) : now;
      return now - seen < LIVE_POLLER_MS;
    });
    if (live) return undefined;
    const jobQueue = /-(backups|restores)$/.exec(run.taskQueue);
    return `no worker polls task queue "${run.taskQueue}" for workflows${jobQueue ? ` (pgwarden's workers poll it for the ${jobQueue[1]}' activities only: workflows go to "${run.taskQueue.slice(0, jobQueue.index)}")` : ''}`;
  } catch {
    return undefined;
  }
}

/** The Temporal CLI command that ends `run` (it holds its database's lock while no worker serves it). */
export function terminateCommand(client: Client, run: Pick<ListedRun, 'workflowId' | 'runId'>, address?: string): string {
  const where = `${address && address !== 'localhost:7233' ? ` --address ${address}` : ''}${client.options.namespace !== 'default' ? ` --namespace ${client.options.namespace}` : ''}`;
  return `temporal workflow terminate${where} --workflow-id ${run.workflowId} --run-id ${run.runId} --reason "no worker serves it"`;
}
