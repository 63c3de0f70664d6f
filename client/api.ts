// The typed API that scripts import: start backups and restores through Temporal and wait for them.
import { WorkflowExecutionAlreadyStartedError, type Client, type WorkflowHandleWithFirstExecutionRunId } from '@temporalio/client';
import type { Workflow } from '@temporalio/common';
import { PgwardenError } from '../config/errors.js';
import { databaseView } from '../config/load.js';
import type { Config } from '../config/schema.js';
import {
  backupWorkflowId,
  baseBackupWorkflowId,
  pitrWorkflowId,
  restoreWorkflowId,
  SEARCH_ATTRIBUTES,
  type BackupInput,
  type BackupResult,
  type RestoreInput,
  type RestoreResult,
} from '../workflows/messages.js';
import type { backupWorkflow, baseBackupWorkflow, drillWorkflow, pitrWorkflow, restoreWorkflow, verifyWorkflow } from '../workflows/index.js';
import { drillWorkflowId, verifyWorkflowId, type BaseBackupInput, type DrillInput, type PitrInput, type VerifyInput } from '../workflows/messages.js';

export type { BackupInput, BackupResult, RestoreInput, RestoreResult };
export { PgwardenError } from '../config/errors.js';
export { preMigrationBackup, requestPreMigrationBackup, type RequestPreMigrationBackupOptions } from './premigration.js';
export type { PreMigrationBackup, PreMigrationResult } from '../workflows/messages.js';

export async function startBackup(client: Client, config: Config, input: BackupInput): Promise<WorkflowHandleWithFirstExecutionRunId<typeof backupWorkflow>> {
  databaseView(config, input.database); // unknown database: fail here, not in the worker
  return startLockedWorkflow<typeof backupWorkflow>(client, config, 'backupWorkflow', backupWorkflowId(input.database), `A backup of "${input.database}"`, [input], [
    ['database', input.database],
    ['kind', input.kind],
    ['operation', 'backup'],
  ]);
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
  try {
    return await client.workflow.start<T>(type, {
      taskQueue: config.temporal.taskQueue,
      workflowId,
      args,
      typedSearchAttributes: attributes.map(([key, value]) => ({ key: SEARCH_ATTRIBUTES[key], value })),
    } as never);
  } catch (error) {
    if (error instanceof WorkflowExecutionAlreadyStartedError) {
      throw new PgwardenError(
        'Refused',
        `${what} is already running (workflow ${workflowId}): one at a time per database. Wait for it, or look at it: temporal workflow describe --workflow-id ${workflowId}.`,
      );
    }
    throw error;
  }
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

/**
 * Whether any worker polled the task queue lately. Without one a started workflow waits silently,
 * which at 3 a.m. looks like a hang: the CLI says so instead.
 */
export async function workersPolling(client: Client, config: Config): Promise<boolean> {
  try {
    const response = await client.workflowService.describeTaskQueue({
      namespace: config.temporal.namespace,
      taskQueue: { name: config.temporal.taskQueue, kind: 1 /* NORMAL */ },
      taskQueueType: 1 /* WORKFLOW */,
    });
    return (response.pollers ?? []).length > 0;
  } catch {
    return true; // cannot tell: do not cry wolf
  }
}

export function noWorkerWarning(config: Config): string {
  return (
    `warning: no pgwarden worker is polling task queue "${config.temporal.taskQueue}" at ${config.temporal.address}: ` +
    'the workflow waits until one starts. Start one with `pgwarden worker`' +
    ' (restores can also run without Temporal: `pgwarden restore --local …`).'
  );
}
