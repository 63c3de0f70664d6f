// Pre-migration backups: the backup a migration waits on, and the migration's own audit trail.
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';

/** Migration ids as migration tools name them (Prisma 20261125143000_add_index, Knex 20261125_x.js, Flyway V2__x). */
export const MIGRATION_ID = /^[A-Za-z0-9][A-Za-z0-9._:@+-]{0,199}$/;
export const MIGRATION_ID_HINT = 'letters, digits and . _ : @ + - (up to 200, starting with a letter or digit), e.g. 20261125143000_add_index';

/** What the Temporal UI, the CLI and the Node API start: `{ "database": "cartly", "migrationId": "20261125_add_index" }`. */
export interface PreMigrationInput {
  database: string;
  migrationId: string;
  /** Take a new backup even when one exists for this migration (`premigrate --new`). */
  fresh?: boolean;
  /** Started by a person who migrates next: the run waits for their migrationStarted/migrationFinished signals (attempt 1). */
  runsMigration?: boolean;
}

/** The update a migration sends (with start) and that returns once the backup is complete and verified. */
export interface PreMigrationRequest {
  /** The caller runs the migration next and reports its start and end (`premigrate -- COMMAND`). */
  runsMigration?: boolean;
}

export interface PreMigrationBackup {
  backupId: string;
  database: string;
  migrationId: string;
  /** Every repository the kind goes to: the backup is complete and verified (sha256 read back) in each. */
  repositories: string[];
  /** An earlier request for this migration made it: no second dump. */
  reused: boolean;
  storedBytes: number;
  tables: number;
  rows: number;
  /** When the backup began: after the request (or a retry's first request), so everything committed before it is in it. */
  backupStartedAt: string;
  finishedAt: string;
  /** Request to verified backup, of which waitedMs went to waiting for another backup of the database. */
  durationMs: number;
  waitedMs: number;
  workflowId: string;
  runId: string;
  /** With runsMigration: the number to report the migration's start and end under. */
  attempt?: number;
}

export interface MigrationStarted {
  attempt: number;
  /** The program's name only: arguments can hold connection strings with passwords, and histories hold no secrets. */
  command: string;
  host: string;
  startedAt: string;
}

export interface MigrationFinished {
  attempt: number;
  /** The command's exit code; null when a signal ended it. */
  exitCode: number | null;
  signal?: string;
  durationMs: number;
  /** Why it could not start at all (command not found …). */
  error?: string;
}

export interface MigrationRecord {
  attempt: number;
  /** pending: backup handed over, start not reported yet; never started / unknown: no report within the window. */
  outcome: 'pending' | 'running' | 'succeeded' | 'failed' | 'never started' | 'unknown';
  requestedAt: string;
  command?: string;
  host?: string;
  startedAt?: string;
  exitCode?: number | null;
  signal?: string;
  durationMs?: number;
  error?: string;
}

export interface PreMigrationResult extends Omit<PreMigrationBackup, 'attempt'> {
  migrations: MigrationRecord[];
}

export interface PreMigrationStatus {
  phase: string;
  /** The backup workflow that holds the database's lock for this backup, once started: its activities show progress. */
  backupWorkflow?: { workflowId: string; runId: string };
  backup?: PreMigrationBackup;
  migrations: MigrationRecord[];
}

export const preMigrationBackupUpdate = defineUpdate<PreMigrationBackup, [PreMigrationRequest?]>('preMigrationBackup');
export const migrationStartedSignal = defineSignal<[MigrationStarted]>('migrationStarted');
export const migrationFinishedSignal = defineSignal<[MigrationFinished]>('migrationFinished');
export const preMigrationStatusQuery = defineQuery<PreMigrationStatus>('preMigrationStatus');
