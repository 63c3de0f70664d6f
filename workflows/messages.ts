// The contract between workflows, the CLI, scripts and the Temporal UI: inputs, results, ids, search attributes.
// Plain data only: this module is bundled into workflows and imported by clients alike.
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

export const DEFAULT_TASK_QUEUE = 'pgwarden';

export { BACKUP_KINDS, type BackupKind } from './kinds.js';
import type { BackupKind } from './kinds.js';

/** Search attributes: find every run of a database, or of one kind, in the Temporal UI ("PgwardenDatabase='cartly'"). */
export const SEARCH_ATTRIBUTES = {
  database: defineSearchAttributeKey('PgwardenDatabase', SearchAttributeType.KEYWORD),
  kind: defineSearchAttributeKey('PgwardenKind', SearchAttributeType.KEYWORD),
  operation: defineSearchAttributeKey('PgwardenOperation', SearchAttributeType.KEYWORD),
} as const;

/**
 * The task queue of the long jobs of one kind: a worker polls it with its own limit (worker.maxConcurrentJobs), so
 * that many backups at once wait their turn in Temporal instead of crowding one machine, and a restore never
 * waits behind a night of backups.
 */
export function jobTaskQueue(taskQueue: string, kind: 'backups' | 'restores'): string {
  return `${taskQueue}-${kind}`;
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

export interface BackupInput {
  /** A database name from pgwarden.yaml; never a URL or a credential. */
  database: string;
  kind: BackupKind;
}

export interface StoredObjectSummary {
  name: string;
  sha256: string;
  storedBytes: number;
}

export interface BackupResult {
  backupId: string;
  database: string;
  kind: BackupKind;
  repositories: string[];
  rawBytes: number; // what pg_dump produced
  storedBytes: number; // what the repository holds (compressed + encrypted)
  tables: number;
  rows: number;
  startedAt: string;
  finishedAt: string;
  durationMs: number; // workflow start to manifest written
  dumpMs: number; // the dump activity alone
  /** Workflow start to the first byte pg_dump produced: Temporal's own overhead. */
  firstByteMs?: number;
  workflowId: string;
  runId: string;
}

export interface RestoreInput {
  database: string;
  /** A backup id from `pgwarden backups list`, or "latest". */
  backup: string;
  /** The new database to create. It must not exist, unless replaceExisting repeats its name. */
  target: string;
  /** Set to the target's name to replace an existing database; the old one is kept, renamed. */
  replaceExisting?: string;
  /** Restore without ownership (ALTER … OWNER) when the roles do not exist on the target server. */
  noOwner?: boolean;
  /** Restore without privileges (GRANT/REVOKE), which name the source's roles: with noOwner, for a server without them. */
  noPrivileges?: boolean;
  /** Repository to read from (default: the database's first). */
  repository?: string;
}

export interface TableCheck {
  table: string;
  expected: number;
  actual: number;
}

export interface RestoreResult {
  database: string;
  backupId: string;
  target: string;
  server: string; // host:port, never credentials
  durationMs: number; // workflow start to verified database in place
  restoreMs: number; // the restore activity alone
  rtoMs?: number;
  withinRto?: boolean;
  tables: number;
  rows: number;
  rowCountsMatch: boolean;
  mismatches: TableCheck[];
  /** When replaceExisting was used: the name the previous database now has. */
  previousDatabaseKeptAs?: string;
  /** What the person restoring should know (a newer backup passed over because it is damaged). */
  warnings?: string[];
  workflowId: string;
  runId: string;
}

/** Heartbeat details of long activities: the CLI and the UI show them as progress. */
export interface Progress {
  phase: string;
  bytesDone: number;
  bytesTotal?: number; // an estimate where the exact size cannot be known up front
  storedBytes?: number;
  itemsDone?: number;
  itemsTotal?: number;
  detail?: string;
}

export interface BaseBackupInput {
  database: string;
}

export interface BaseBackupResult {
  backupId: string;
  database: string;
  repository: string;
  rawBytes: number;
  storedBytes: number;
  startLsn: string;
  stopLsn: string;
  timeline: number;
  startWal: string;
  stopWal: string;
  durationMs: number;
  copyMs: number; // pg_basebackup streaming into the repository
  walWaitMs: number; // waiting until the WAL the backup needs was archived
  workflowId: string;
  runId: string;
}

export interface PitrInput {
  database: string;
  /** ISO-8601 time with zone, an LSN (0/3000028), xid:N, name:POINT, or "latest". */
  target: string;
  /** Data directory to create (default: under the runAs user's home). */
  datadir?: string;
  port?: number;
  /** Base backup to start from (default: the newest that is consistent before the target). */
  backup?: string;
  /** Let the restored cluster archive its own WAL (same archive): for a restore that becomes the new primary. */
  archive?: boolean;
}

export interface PitrResult {
  database: string;
  target: string;
  baseBackupId: string;
  datadir: string;
  port: number;
  /** How to connect: the source's roles and passwords are the restored cluster's too. */
  connection: string;
  timeline: number;
  lastTransactionAt?: string;
  stoppedAt?: string;
  reachedLsn: string;
  note?: string;
  window: { from: string; to: string; fromLsn: string; toLsn: string };
  segmentsRestored: number;
  durationMs: number;
  baseRestoreMs: number;
  recoveryMs: number;
  rtoMs?: number;
  withinRto?: boolean;
  workflowId: string;
  runId: string;
}

export interface ExpireInput {
  database: string;
  /** Say what would go, delete nothing. */
  dryRun?: boolean;
}

export interface ExpireResult {
  database: string;
  dryRun: boolean;
  logical: Array<{ repository: string; id: string; kind: string; finishedAt: string; rule: string }>;
  base: Array<{ repository: string; id: string; stopTime: string }>;
  wal: { count: number; bytes: number; first?: string; last?: string; keepFrom?: string };
  kept: { logical: number; base: number };
  /** Backups retention could not read (broken manifest, or one from a newer pgwarden): kept, reported. */
  damaged?: Array<{ repository: string; type: 'logical' | 'base'; id: string; reason: string }>;
  deletedObjects: number;
  workflowId: string;
  runId: string;
}

/** What a Temporal Schedule starts: it runs the real workflow under the database's lock id, waiting its turn. */
export interface ScheduledInput {
  database: string;
  operation: 'backup' | 'basebackup' | 'expire';
  kind?: BackupKind;
}
