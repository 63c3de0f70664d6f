// Names and ids every part of pgwarden agrees on: task queues, workflow ids (the locks), search attributes.
// Plain data only: bundled into workflows and imported by the CLI, activities and config alike.
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

/** Search attributes: find every run of a database, or of one kind, in the Temporal UI ("PgwardenDatabase='cartly'"). */
export const SEARCH_ATTRIBUTES = {
  database: defineSearchAttributeKey('PgwardenDatabase', SearchAttributeType.KEYWORD),
  kind: defineSearchAttributeKey('PgwardenKind', SearchAttributeType.KEYWORD),
  operation: defineSearchAttributeKey('PgwardenOperation', SearchAttributeType.KEYWORD),
} as const;

/** The Temporal CLI command that adds pgwarden's search attributes to a namespace (`address` when not the default). */
export function searchAttributeCommand(namespace: string, address?: string): string {
  const names = Object.values(SEARCH_ATTRIBUTES).map((key) => `--name ${key.name} --type Keyword`);
  return `temporal operator search-attribute create${address && address !== 'localhost:7233' ? ` --address ${address}` : ''} --namespace ${namespace} ${names.join(' ')}`;
}

/**
 * The task queue of the long jobs, backups or restores: a worker polls it with its own limit (worker.maxConcurrentJobs),
 * so that many backups at once wait their turn in Temporal instead of crowding one machine, and a restore never
 * waits behind a night of backups.
 */
export function jobTaskQueue(taskQueue: string, jobs: 'backups' | 'restores'): string {
  return `${taskQueue}-${jobs}`;
}

/**
 * Every workflow type a pgwarden worker hosts (workflows/index.ts; a unit test keeps the two equal): a run of any
 * other type (a typo in the UI: "restoreworkflow") is one no worker will ever serve.
 */
export const WORKFLOW_TYPES = [
  'backupWorkflow',
  'restoreWorkflow',
  'baseBackupWorkflow',
  'discardWhenBackWorkflow',
  'pitrWorkflow',
  'expireWorkflow',
  'scheduledWorkflow',
  'discardBackupWorkflow',
  'preMigrationWorkflow',
  'verifyWorkflow',
  'drillWorkflow',
  'monitorWorkflow',
  'notifyWorkflow',
  'rekeyWorkflow',
  'neonPitrWorkflow',
  'alertLedgerWorkflow',
  'databaseLockWorkflow',
  'backupDiffWorkflow',
] as const;

/**
 * What a run started under another id than its lock's (the Temporal UI's random ids) runs under that lock id while
 * it works: it holds the lock like a run started under it, and the lock names the run that holds it.
 */
export interface DatabaseLockInput {
  database: string;
  /** backup, basebackup, restore, pitr: the operation whose lock this is. */
  operation: string;
  /** The run that holds the lock (this workflow ends when that run ends). */
  holder: { workflowId: string; runId: string; workflowType: string };
}

/** The lock ids of one database (workflow ids that are locks): where `pgwarden status` looks for runs no worker serves. */
export function lockWorkflowIds(database: string): string[] {
  return [backupWorkflowId(database), baseBackupWorkflowId(database), restoreWorkflowId(database), pitrWorkflowId(database), expireWorkflowId(database), rekeyWorkflowId(database)];
}

/** One backup of a database at a time: the id is the lock (Temporal refuses a second running workflow with it). */
export function backupWorkflowId(database: string): string {
  return `pgwarden-backup-${database}`;
}

/** One base backup of a database at a time. */
export function baseBackupWorkflowId(database: string): string {
  return `pgwarden-basebackup-${database}`;
}

/** One point-in-time restore of a database at a time. */
export function pitrWorkflowId(database: string): string {
  return `pgwarden-pitr-${database}`;
}

/** One retention run per database at a time. */
export function expireWorkflowId(database: string): string {
  return `pgwarden-expire-${database}`;
}

/** One restore of a database at a time, whatever its target. */
export function restoreWorkflowId(database: string): string {
  return `pgwarden-restore-${database}`;
}

/** Clean-up of one failed backup that goes on until its repository answers again. */
export function discardWorkflowId(database: string, backupId: string): string {
  return `pgwarden-discard-${database}-${backupId}`;
}

/** One key rotation of a database at a time. */
export function rekeyWorkflowId(database: string): string {
  return `pgwarden-rekey-${database}`;
}

/** One pre-migration backup per database and migration: the id is what lets a CI retry find the first one's backup. */
export function preMigrationWorkflowId(database: string, migrationId: string): string {
  return `pgwarden-premigration-${database}-${migrationId}`;
}

/**
 * Drills and verifications take the backup lock of their database (the backup workflow id): a drill never runs
 * during a backup of the same database, and a backup waits for a drill (scheduled) or is refused (by hand).
 */
export function drillWorkflowId(database: string): string {
  return backupWorkflowId(database);
}

export function verifyWorkflowId(database: string): string {
  return backupWorkflowId(database);
}

/** One monitor run per database at a time. */
export function monitorWorkflowId(database: string): string {
  return `pgwarden-monitor-${database}`;
}
