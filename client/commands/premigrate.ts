// pgwarden premigrate --db NAME --migration ID [--timeout D] [--new] [-- COMMAND ARGS...]: the migration's backup
// first (complete and verified everywhere), then the migration, its start and end recorded beside the backup.
import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import { basename } from 'node:path';
import type { Client } from '@temporalio/client';
import { parseDuration } from '../../config/duration.js';
import { PgwardenError } from '../../domain/errors.js';
import { connectClient } from '../../worker/temporal.js';
import { preMigrationWorkflowId } from '../../domain/ids.js';
import type { MigrationFinished, PreMigrationBackup } from '../../domain/premigration.js';
import { noWorkerWarning, workersPolling } from '../api.js';
import type { CommandContext } from '../context.js';
import { formatDuration } from '../output.js';
import { checkPreMigrationRequest, DEFAULT_PREMIGRATION_TIMEOUT_MS, preMigrationBackup, reportMigrationEnd, reportMigrationStart } from '../premigration.js';

export interface PremigrateOptions {
  db: string;
  migration: string;
  timeout?: string;
  new: boolean;
  /** commander's positional arguments: [the command and its arguments, after --] */
  args: [string[] | undefined];
}

export async function premigrateCommand(ctx: CommandContext, options: PremigrateOptions): Promise<void> {
  const command = options.args[0] ?? [];
  const timeoutMs = options.timeout === undefined ? DEFAULT_PREMIGRATION_TIMEOUT_MS : parseDuration(options.timeout);
  if (timeoutMs === undefined || timeoutMs <= 0) throw new PgwardenError('Usage', `--timeout "${options.timeout}" is not a duration: write it like 30m, 2h or 90s.`);
  checkPreMigrationRequest(ctx.config, options.db, options.migration);

  const client = await connectClient(ctx.config);
  try {
    if (!(await workersPolling(client, ctx.config))) ctx.out.info(noWorkerWarning(ctx.config));
    const workflowId = preMigrationWorkflowId(options.db, options.migration);
    ctx.out.info(`Pre-migration backup of ${options.db} for migration ${options.migration}: workflow ${workflowId}`);
    const backup = await preMigrationBackup(client, ctx.config, {
      database: options.db,
      migrationId: options.migration,
      fresh: options.new,
      runsMigration: command.length > 0,
      timeoutMs,
      onPhase: (phase) => ctx.out.info(`  ${phase}`),
      onProgress: (status) => ctx.out.progress(status),
    });
    const link = ctx.workflowLink(backup.workflowId, backup.runId);
    ctx.out.info(`${describePreMigrationBackup(backup)}${link ? `\n  ${link}` : ''}`);
    if (command.length === 0) {
      ctx.out.result(backup, () => backup.backupId);
      return;
    }
    if (!ctx.out.json) process.stdout.write(`${backup.backupId}\n`);
    const migration = await runMigration(ctx, client, backup, command);
    process.exitCode = migration.exitCode;
    if (ctx.out.json) {
      // A failed migration is a failure like any other: `ok: false` comes with the error object every command promises.
      const failed = migration.exitCode === 0 ? {} : { error: { kind: 'Failed', message: `Migration ${backup.migrationId} ${migrationOutcome(migration)}; backup ${backup.backupId} was taken before it.`, exitCode: migration.exitCode } };
      process.stdout.write(`${JSON.stringify({ ok: migration.exitCode === 0, result: { ...backup, migration }, ...failed })}\n`);
    }
  } finally {
    await client.connection.close();
  }
}

export function describePreMigrationBackup(b: PreMigrationBackup): string {
  const how = b.reused
    ? `taken earlier for this migration (at ${b.backupStartedAt}); no second dump`
    : `taken in ${formatDuration(b.durationMs)}${b.waitedMs > 0 ? `, ${formatDuration(b.waitedMs)} of it waiting for another backup of ${b.database} to finish` : ''}`;
  return `Backup ${b.backupId} of ${b.database} (pre-migration, migration ${b.migrationId}) is complete and verified in ${b.repositories.join(' + ')}: ${how}`;
}

/**
 * Runs the migration with this process's stdin, stdout and stderr (stdout goes to stderr with --json, which keeps
 * stdout for one JSON object), passes on the signals that would stop pgwarden, and records start and end.
 */
async function runMigration(ctx: CommandContext, client: Client, backup: PreMigrationBackup, command: string[]): Promise<Omit<MigrationFinished, 'exitCode'> & { exitCode: number }> {
  const [file, ...args] = command as [string, ...string[]];
  try {
    await reportMigrationStart(client, backup, basename(file));
  } catch (error) {
    throw new PgwardenError(
      'Unavailable',
      `Could not record the migration's start in workflow ${backup.workflowId} (${(error as Error).message}): the migration was not run. Backup ${backup.backupId} is ready; run the same command again.`,
      { cause: error },
    );
  }
  ctx.out.info(`Running the migration (attempt ${backup.attempt ?? 1}): ${basename(file)}${args.length ? ' …' : ''}`);
  const started = Date.now();
  const child = spawn(file, args, { stdio: ['inherit', ctx.out.json ? process.stderr : 'inherit', 'inherit'] });
  const forward = (signal: NodeJS.Signals) => child.kill(signal);
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
  for (const signal of signals) process.on(signal, forward);
  const ended = await new Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: Error }>((resolve) => {
    child.once('error', (error) => resolve({ code: null, signal: null, error }));
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
  for (const signal of signals) process.off(signal, forward);

  const durationMs = Date.now() - started;
  const report: Omit<MigrationFinished, 'attempt'> = {
    exitCode: ended.error || ended.signal ? null : ended.code,
    durationMs,
    ...(ended.signal ? { signal: ended.signal } : {}),
    ...(ended.error ? { error: `${basename(file)} could not be started: ${ended.error.message}` } : {}),
  };
  try {
    await reportMigrationEnd(client, backup, report);
  } catch (error) {
    ctx.out.info(`warning: could not record the migration's end in workflow ${backup.workflowId}: ${(error as Error).message}`);
  }
  // The shell's conventions: 127 when the command cannot run, 128 + n when signal n ended it.
  const exitCode = ended.error ? 127 : ended.signal ? 128 + (constants.signals[ended.signal] ?? 0) : (ended.code ?? 1);
  const migration = { attempt: backup.attempt ?? 1, ...report, exitCode };
  ctx.out.info(`Migration ${backup.migrationId} ${migrationOutcome(migration)}; recorded in workflow ${backup.workflowId} beside backup ${backup.backupId}.`);
  return migration;
}

/** "exited with code 3 after 1.2s", "was ended by SIGTERM after …", or why it could not start. */
function migrationOutcome(m: Omit<MigrationFinished, 'exitCode'> & { exitCode: number }): string {
  return `${m.error ?? (m.signal ? `was ended by ${m.signal}` : `exited with code ${m.exitCode}`)} after ${formatDuration(m.durationMs)}`;
}
