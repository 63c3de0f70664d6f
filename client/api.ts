// The typed API that scripts import: start backups and restores through Temporal and wait for them.
import { WorkflowExecutionAlreadyStartedError, type Client, type WorkflowHandleWithFirstExecutionRunId } from '@temporalio/client';
import type { Workflow } from '@temporalio/common';
import { PgwardenError } from '../domain/errors.js';
import { describeRun, lockBeingReleased, terminateCommand, unservedReason } from '../activities/workflow-runs.js';
import { databaseView } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { backupWorkflowId, baseBackupWorkflowId, pitrWorkflowId, restoreWorkflowId, SEARCH_ATTRIBUTES, searchAttributeCommand } from '../domain/ids.js';
import type { BackupInput, BackupResult } from '../domain/backup.js';
import type { RestoreInput, RestoreResult } from '../domain/restore.js';
import type { backupWorkflow, baseBackupWorkflow, drillWorkflow, pitrWorkflow, restoreWorkflow, verifyWorkflow } from '../workflows/index.js';
import { drillWorkflowId, verifyWorkflowId } from '../domain/ids.js';
import type { BaseBackupInput } from '../domain/basebackup.js';
import type { DrillInput, VerifyInput } from '../domain/verify.js';
import type { PitrInput } from '../domain/pitr.js';


export type { BackupInput, BackupResult, RestoreInput, RestoreResult };
export { PgwardenError } from '../domain/errors.js';
export {
  preMigrationBackup,
  reportMigrationEnd,
  reportMigrationStart,
  requestPreMigrationBackup,
  runWithPreMigrationBackup,
  type RequestPreMigrationBackupOptions,
  type RunWithPreMigrationBackupOptions,
} from './premigration.js';
export type { MigrationFinished, MigrationStarted, PreMigrationBackup, PreMigrationResult } from '../domain/premigration.js';
export { migrationFinishedSignal, migrationStartedSignal } from '../domain/premigration.js';

export async function startBackup(client: Client, config: Config, input: BackupInput): Promise<WorkflowHandleWithFirstExecutionRunId<typeof backupWorkflow>> {
  databaseView(config, input.database); // unknown database: fail here, not in the worker
  return startLockedWorkflow<typeof backupWorkflow>(client, config, 'backupWorkflow', backupWorkflowId(input.database), `A backup of "${input.database}"`, [input], [
    ['database', input.database],
    ['kind', input.kind],
    ['operation', 'backup'],
  ]);
}

/** The server's words when the namespace lacks one of pgwarden's search attributes ("… has no mapping defined for search attribute X"). */
function missingSearchAttribute(error: unknown): string | undefined {
  for (let e: unknown = error; e instanceof Error; e = e.cause) {
    const text = `${e.message} ${(e as { details?: string }).details ?? ''}`;
    if (/search attribute/i.test(text) && /Pgwarden\w+/.test(text)) return ((e as { details?: string }).details ?? e.message).trim();
  }
  return undefined;
}

/** Starts workflow `type` under the database's lock id; "already running" becomes a Refused error. */
export async function startLockedWorkflow<T extends Workflow>(
  client: Client,
  config: Config,
  type: string,
  workflowId: string,
  what: string,
  args: Parameters<T>,
  attributes: Array<[keyof typeof SEARCH_ATTRIBUTES, string]>,
): Promise<WorkflowHandleWithFirstExecutionRunId<T>> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await client.workflow.start<T>(type, {
        taskQueue: config.temporal.taskQueue,
        workflowId,
        args,
        typedSearchAttributes: attributes.map(([key, value]) => ({ key: SEARCH_ATTRIBUTES[key], value })),
      } as never);
    } catch (error) {
      if (error instanceof WorkflowExecutionAlreadyStartedError) {
        if (attempt === 1 && (await lockBeingReleased(client, workflowId))) continue;
        throw new PgwardenError('Refused', `${what} is already running: ${await lockHolder(client, config, workflowId)}`);
      }
      throw startFailure(error, config, what);
    }
  }
}

/** A start that failed for another reason than the lock: a namespace without pgwarden's search attributes says how to add them. */
function startFailure(error: unknown, config: Config, what: string): unknown {
  const missing = missingSearchAttribute(error);
  if (!missing) return error;
  const t = config.temporal;
  return new PgwardenError(
    'Config',
    `Temporal namespace "${t.namespace}" at ${t.address} does not have pgwarden's search attributes (${missing}), so ${what.toLowerCase()} was not started. ` +
      `Add them once: ${searchAttributeCommand(t.namespace, t.address)}  (or start \`pgwarden worker\` once: it adds them where it is allowed to).`,
    { cause: error },
  );
}

/**
 * The run that holds lock `workflowId`, in words: its ids, type, task queue and start, and what to do. The holder
 * may be a run started under another id (databaseLockWorkflow holds the lock for it: its parent is named), or one
 * that no worker will ever run (a typo in the task queue or the type): then the command that ends it.
 */
async function lockHolder(client: Client, config: Config, workflowId: string): Promise<string> {
  const look = `temporal workflow describe --workflow-id ${workflowId}`;
  let run;
  try {
    const lock = await describeRun(client, workflowId);
    const parent = lock?.type === 'databaseLockWorkflow' ? lock.raw.workflowExecutionInfo?.parentExecution : undefined;
    run = parent?.workflowId && parent.runId ? await describeRun(client, parent.workflowId, parent.runId) : lock;
  } catch {
    run = undefined;
  }
  if (!run || run.status.name !== 'RUNNING') return `workflow ${workflowId} (one at a time per database). Wait for it, or look at it: ${look}.`;
  const which = `workflow ${run.workflowId}, run ${run.runId} (${run.type} on task queue "${run.taskQueue}", started ${run.startTime.toISOString()}${run.workflowId !== workflowId ? `, holding ${workflowId}` : ''})`;
  const unserved = await unservedReason(client, run);
  if (unserved) return `${which}, which no worker will ever run: ${unserved}. It holds the database's lock until it is ended: ${terminateCommand(client, run, config.temporal.address)}`;
  return `${which}: one at a time per database. Wait for it, or look at it: temporal workflow describe --workflow-id ${run.workflowId} --run-id ${run.runId}.`;
}

export async function startBaseBackup(client: Client, config: Config, input: BaseBackupInput): Promise<WorkflowHandleWithFirstExecutionRunId<typeof baseBackupWorkflow>> {
  databaseView(config, input.database);
  return startLockedWorkflow<typeof baseBackupWorkflow>(client, config, 'baseBackupWorkflow', baseBackupWorkflowId(input.database), `A base backup of "${input.database}"`, [input], [
    ['database', input.database],
    ['kind', 'base'],
    ['operation', 'basebackup'],
  ]);
}

export async function startPitr(client: Client, config: Config, input: PitrInput): Promise<WorkflowHandleWithFirstExecutionRunId<typeof pitrWorkflow>> {
  databaseView(config, input.database);
  return startLockedWorkflow<typeof pitrWorkflow>(client, config, 'pitrWorkflow', pitrWorkflowId(input.database), `A point-in-time restore of "${input.database}"`, [input], [
    ['database', input.database],
    ['operation', 'pitr'],
  ]);
}

export async function startRestore(client: Client, config: Config, input: RestoreInput): Promise<WorkflowHandleWithFirstExecutionRunId<typeof restoreWorkflow>> {
  databaseView(config, input.database);
  return startLockedWorkflow<typeof restoreWorkflow>(client, config, 'restoreWorkflow', restoreWorkflowId(input.database), `A restore of "${input.database}"`, [input], [
    ['database', input.database],
    ['operation', 'restore'],
  ]);
}

/** A restore drill (under the database's backup lock: never during a backup of it). */
export async function startDrill(client: Client, config: Config, input: DrillInput): Promise<WorkflowHandleWithFirstExecutionRunId<typeof drillWorkflow>> {
  databaseView(config, input.database);
  return startLockedWorkflow<typeof drillWorkflow>(client, config, 'drillWorkflow', drillWorkflowId(input.database), `A backup, drill or verification of "${input.database}"`, [input], [
    ['database', input.database],
    ['operation', 'drill'],
  ]);
}

/** An integrity verification (under the database's backup lock, like drills). */
export async function startVerify(client: Client, config: Config, input: VerifyInput): Promise<WorkflowHandleWithFirstExecutionRunId<typeof verifyWorkflow>> {
  databaseView(config, input.database);
  return startLockedWorkflow<typeof verifyWorkflow>(client, config, 'verifyWorkflow', verifyWorkflowId(input.database), `A backup, drill or verification of "${input.database}"`, [input], [
    ['database', input.database],
    ['operation', 'verify'],
  ]);
}

/** A worker Temporal lists on the task queue, and how long ago it last asked for work. */
export interface WorkerPoller {
  identity: string; // "<pid>@<host>"
  lastSeenMs: number;
}

/**
 * A worker that is alive asks for work again at least every minute (a long poll lasts about 60 s), so one
 * not seen for longer has stopped, although Temporal keeps listing it for about five minutes.
 */
export const STALE_POLLER_MS = 90_000;

/** The workers Temporal lists on the task queue, or undefined when it cannot be asked. */
export async function workerPollers(client: Client, config: Config): Promise<WorkerPoller[] | undefined> {
  try {
    const response = await client.workflowService.describeTaskQueue({
      namespace: config.temporal.namespace,
      taskQueue: { name: config.temporal.taskQueue, kind: 1 /* NORMAL */ },
      taskQueueType: 1 /* WORKFLOW */,
    });
    const now = Date.now();
    return (response.pollers ?? []).map((p) => {
      const at = p.lastAccessTime ? Number(p.lastAccessTime.seconds ?? 0) * 1000 + Math.floor((p.lastAccessTime.nanos ?? 0) / 1e6) : now;
      return { identity: p.identity ?? 'unknown', lastSeenMs: Math.max(0, now - at) };
    });
  } catch {
    return undefined;
  }
}

/**
 * Whether any worker polled the task queue lately. Without one a started workflow waits silently,
 * which at 3 a.m. looks like a hang: the CLI says so instead.
 */
export async function workersPolling(client: Client, config: Config): Promise<boolean> {
  const pollers = await workerPollers(client, config);
  return pollers === undefined || pollers.some((p) => p.lastSeenMs < STALE_POLLER_MS); // cannot tell: do not cry wolf
}

export function noWorkerWarning(config: Config, pollers: WorkerPoller[] = []): string {
  const gone = pollers.length
    ? `the worker${pollers.length > 1 ? 's' : ''} Temporal still lists (${pollers.map((p) => `${p.identity}, last seen ${Math.round(p.lastSeenMs / 1000)} s ago`).join('; ')}) stopped polling task queue "${config.temporal.taskQueue}"`
    : `no pgwarden worker is polling task queue "${config.temporal.taskQueue}"`;
  return (
    `warning: ${gone} at ${config.temporal.address}: ` +
    'the workflow waits until one starts. Start one with `pgwarden worker`' +
    ' (restores can also run without Temporal: `pgwarden restore --local …`).'
  );
}

/** The no-worker warning, when it applies now. */
export async function workerWarning(client: Client, config: Config): Promise<string | undefined> {
  const pollers = await workerPollers(client, config);
  if (pollers === undefined || pollers.some((p) => p.lastSeenMs < STALE_POLLER_MS)) return undefined;
  return noWorkerWarning(config, pollers);
}
