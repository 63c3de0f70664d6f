// Asks Temporal for a migration's pre-migration backup and waits for it (update-with-start: one call that starts
// the workflow or joins the running one and returns when the backup is verified), then reports the migration.
import { hostname } from 'node:os';
import { WithStartWorkflowOperation, WorkflowExecutionAlreadyStartedError, WorkflowUpdateFailedError, type Client } from '@temporalio/client';
import { parseDuration } from '../config/duration.js';
import { formatDuration } from '../domain/format.js';
import { PgwardenError } from '../domain/errors.js';
import { innermostPgwardenFailure } from '../domain/failures.js';
import { configPath, databaseView, loadConfig } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { connectClient } from '../worker/temporal.js';
import { migrationFinishedSignal, migrationStartedSignal, MIGRATION_ID, MIGRATION_ID_HINT, preMigrationBackupUpdate, preMigrationStatusQuery, type MigrationFinished, type PreMigrationBackup, type PreMigrationInput } from '../domain/premigration.js';
import { preMigrationWorkflowId, SEARCH_ATTRIBUTES } from '../domain/ids.js';
import type { preMigrationWorkflow } from '../workflows/premigration.js';
import { activityStatuses, type ActivityStatus } from './watch.js';
import { sleep } from '../activities/sleep.js';

/** How long a migration waits for its backup unless told otherwise (a running daily backup included). */
export const DEFAULT_PREMIGRATION_TIMEOUT_MS = 3_600_000;

export interface PreMigrationRequestOptions {
  database: string;
  migrationId: string;
  /** Take a new backup even if this migration already has one. */
  fresh?: boolean;
  /** The caller runs the migration next and reports it with reportMigrationStart/End. */
  runsMigration?: boolean;
  timeoutMs?: number;
  /** A phase line when the workflow's phase changes ("waiting for the daily backup … to finish"). */
  onPhase?: (phase: string) => void;
  /** Progress of the activities doing the work (dump, copy, verify), about once a second. */
  onProgress?: (status: ActivityStatus) => void;
}

/** Checks what Temporal would refuse later, so a typo fails at once with a message and exit code 2 or 3. */
export function checkPreMigrationRequest(config: Config, database: string, migrationId: string): void {
  databaseView(config, database);
  if (!MIGRATION_ID.test(migrationId)) throw new PgwardenError('Usage', `--migration "${migrationId}" is not a migration id: use ${MIGRATION_ID_HINT}.`);
}

/**
 * The pre-migration backup of `migrationId`: the existing one (running, finished, or found in the repositories), or
 * a new one taken after any backup of the database that is running. Resolves once it is complete and verified in
 * every repository of the kind; rejects with a PgwardenError (the reason, and its exit code) otherwise.
 */
export async function preMigrationBackup(client: Client, config: Config, options: PreMigrationRequestOptions): Promise<PreMigrationBackup> {
  checkPreMigrationRequest(config, options.database, options.migrationId);
  const workflowId = preMigrationWorkflowId(options.database, options.migrationId);
  const input: PreMigrationInput = { database: options.database, migrationId: options.migrationId, ...(options.fresh ? { fresh: true } : {}) };
  const start = new WithStartWorkflowOperation<typeof preMigrationWorkflow>('preMigrationWorkflow', {
    workflowId,
    taskQueue: config.temporal.taskQueue,
    args: [input],
    // The same migration joins the running workflow; a finished one is asked again (a new run finds its backup
    // in the repositories). --new must not join a running one: it would hand back the backup it wants replaced.
    workflowIdConflictPolicy: options.fresh ? 'FAIL' : 'USE_EXISTING',
    workflowIdReusePolicy: 'ALLOW_DUPLICATE',
    typedSearchAttributes: [
      { key: SEARCH_ATTRIBUTES.database, value: options.database },
      { key: SEARCH_ATTRIBUTES.kind, value: 'pre-migration' },
      { key: SEARCH_ATTRIBUTES.operation, value: 'premigration' },
    ],
  });
  const timeoutMs = options.timeoutMs ?? DEFAULT_PREMIGRATION_TIMEOUT_MS;
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), timeoutMs);
  let done = false;
  let following: Promise<void> | undefined;
  try {
    // Accepted first (the server answers at once), so progress can be shown while the backup is taken.
    const update = await client.withAbortSignal(abort.signal, () =>
      client.workflow.startUpdateWithStart(preMigrationBackupUpdate, {
        args: [{ runsMigration: options.runsMigration ?? false }],
        waitForStage: 'ACCEPTED',
        startWorkflowOperation: start,
      }),
    );
    following = follow(client, workflowId, update.workflowRunId, () => done, options);
    return await client.withAbortSignal(abort.signal, () => update.result());
  } catch (error) {
    if (abort.signal.aborted) {
      throw new PgwardenError(
        'Failed',
        `No pre-migration backup of "${options.database}" for migration ${options.migrationId} within ${formatDuration(timeoutMs)}: the migration must not run. ` +
          `The request goes on in workflow ${workflowId}; ask again to use its backup once it is done, or cancel it: temporal workflow cancel --workflow-id ${workflowId}.`,
      );
    }
    if (error instanceof WorkflowExecutionAlreadyStartedError) {
      throw new PgwardenError(
        'Refused',
        `Migration ${options.migrationId} of "${options.database}" has a pre-migration workflow still open (${workflowId}: its backup or its migration is still running): ` +
          `--new takes another backup only once it has ended. Look at it: temporal workflow describe --workflow-id ${workflowId}.`,
      );
    }
    throw asRequestError(error);
  } finally {
    done = true;
    clearTimeout(timer);
    await following;
  }
}

/** The workflow's reason for refusing the update (its pgwarden kind picks the exit code). */
function asRequestError(error: unknown): unknown {
  if (error instanceof PgwardenError || !(error instanceof WorkflowUpdateFailedError)) return error;
  const best = innermostPgwardenFailure(error.cause);
  return new PgwardenError(best ? (best.type as never) : 'Failed', best?.message ?? error.cause?.message ?? error.message, { cause: error });
}

/** Shows the workflow's phase and the progress of the activities working for it until `finished()`. */
async function follow(client: Client, workflowId: string, runId: string | undefined, finished: () => boolean, options: PreMigrationRequestOptions): Promise<void> {
  let phase = '';
  const handle = client.workflow.getHandle(workflowId, runId);
  while (!finished()) {
    try {
      const status = await handle.query(preMigrationStatusQuery);
      if (status.phase !== phase && !finished()) options.onPhase?.((phase = status.phase));
      const working = [handle, ...(status.backupWorkflow && phase === 'backing up' ? [client.workflow.getHandle(status.backupWorkflow.workflowId, status.backupWorkflow.runId)] : [])];
      for (const one of working) {
        for (const activity of await activityStatuses(one)) {
          // The wait for another backup is a phase line already, not a byte count.
          if (!finished() && activity.activity !== 'waitForLockHolder') options.onProgress?.(activity);
        }
      }
    } catch {
      /* progress is best effort; the update's result is what counts */
    }
    await sleep(1_000);
  }
}

/** Records in the workflow's history that attempt `attempt` of the migration starts now (before it runs). */
export async function reportMigrationStart(client: Client, backup: PreMigrationBackup, command: string): Promise<void> {
  await client.workflow
    .getHandle(backup.workflowId, backup.runId)
    .signal(migrationStartedSignal, { attempt: backup.attempt ?? 1, command, host: hostname(), startedAt: new Date().toISOString() });
}

/** Records how the migration ended. */
export async function reportMigrationEnd(client: Client, backup: PreMigrationBackup, end: Omit<MigrationFinished, 'attempt'>): Promise<void> {
  await client.workflow.getHandle(backup.workflowId, backup.runId).signal(migrationFinishedSignal, { attempt: backup.attempt ?? 1, ...end });
}

export interface RequestPreMigrationBackupOptions {
  /** A database name from pgwarden.yaml. */
  database: string;
  /** Your migration tool's id of the migration about to run: the same id gets the same backup (CI retries). */
  migrationId: string;
  /** How long to wait for the backup (a running backup of the database included): milliseconds or "30m", "2h". Default 1 h. */
  timeout?: number | string;
  /** Take a new backup even if this migration already has one. */
  new?: boolean;
  /** pgwarden.yaml to use (default: $PGWARDEN_CONFIG, else ./pgwarden.yaml), or a loaded configuration. */
  config?: string | Config;
}

/** The configuration and the wait an API call asks for, checked as the CLI checks them (a typo fails at once). */
function apiRequest(options: RequestPreMigrationBackupOptions): { config: Config; timeoutMs?: number } {
  const config = typeof options.config === 'object' ? options.config : loadConfig(configPath(options.config));
  // As `--timeout`: a duration that does not parse is refused, never read as the default hour.
  const timeoutMs = typeof options.timeout === 'string' ? parseDuration(options.timeout) : options.timeout;
  if (options.timeout !== undefined && (timeoutMs === undefined || !(timeoutMs > 0) || !Number.isFinite(timeoutMs))) {
    throw new PgwardenError('Usage', `timeout ${JSON.stringify(options.timeout)} is not a duration: give milliseconds or write it like "30m", "2h" or "90s".`);
  }
  checkPreMigrationRequest(config, options.database, options.migrationId);
  return { config, ...(timeoutMs !== undefined ? { timeoutMs } : {}) };
}

/**
 * For migration scripts: `await requestPreMigrationBackup({ database: 'cartly', migrationId })` before migrating.
 * Resolves with the backup id once the backup is complete and verified in every repository of its kind; rejects
 * (a PgwardenError saying why) when there is none in time: then do not migrate. It records no migration: use
 * runWithPreMigrationBackup for the audit trail the CLI's `premigrate -- COMMAND` leaves.
 */
export async function requestPreMigrationBackup(options: RequestPreMigrationBackupOptions): Promise<string> {
  const { config, timeoutMs } = apiRequest(options);
  const client = await connectClient(config);
  try {
    const backup = await preMigrationBackup(client, config, {
      database: options.database,
      migrationId: options.migrationId,
      fresh: options.new ?? false,
      ...(timeoutMs !== undefined ? { timeoutMs } : {}),
    });
    return backup.backupId;
  } finally {
    await client.connection.close();
  }
}

export interface RunWithPreMigrationBackupOptions extends RequestPreMigrationBackupOptions {
  /** What the history names as the migration (a program or tool name, never arguments: they can hold passwords). Default "node". */
  command?: string;
}

/**
 * The Node API's `premigrate -- COMMAND`: takes (or reuses) the verified pre-migration backup, records in its workflow
 * that the migration starts, runs `migrate(backupId)`, and records how it ended (succeeded, or failed with the name of
 * what it threw; the message is not recorded, it can hold a connection string). Resolves with what `migrate`
 * resolved with; rejects with what it threw, or with a PgwardenError when there is no backup (then `migrate` never runs).
 */
export async function runWithPreMigrationBackup<T>(options: RunWithPreMigrationBackupOptions, migrate: (backupId: string) => Promise<T>): Promise<T> {
  const { config, timeoutMs } = apiRequest(options);
  const client = await connectClient(config);
  try {
    const backup = await preMigrationBackup(client, config, {
      database: options.database,
      migrationId: options.migrationId,
      fresh: options.new ?? false,
      runsMigration: true,
      ...(timeoutMs !== undefined ? { timeoutMs } : {}),
    });
    try {
      await reportMigrationStart(client, backup, options.command ?? 'node');
    } catch (error) {
      throw new PgwardenError(
        'Unavailable',
        `Could not record the migration's start in workflow ${backup.workflowId} (${(error as Error).message}): the migration was not run. Backup ${backup.backupId} is ready; ask again.`,
        { cause: error },
      );
    }
    const started = Date.now();
    let result: T;
    try {
      result = await migrate(backup.backupId);
    } catch (error) {
      await reportMigrationEnd(client, backup, { exitCode: 1, durationMs: Date.now() - started, error: `the migration threw ${error instanceof Error ? error.name : typeof error}` }).catch(() => undefined);
      throw error;
    }
    // The migration ran: a lost report must not make it look failed to the caller (the CLI only warns, too).
    await reportMigrationEnd(client, backup, { exitCode: 0, durationMs: Date.now() - started }).catch((error: Error) =>
      process.emitWarning(`could not record the migration's end in workflow ${backup.workflowId}: ${error.message}`),
    );
    return result;
  } finally {
    await client.connection.close();
  }
}
