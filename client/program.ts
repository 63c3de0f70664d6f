// The `pgwarden` command line: parses arguments, runs one command, exits with a documented code. client/cli.ts
// loads it (after the per-segment commands, which never get here): from its bundle (program.bundle.js, built by
// `npm run build`: a few files instead of hundreds of modules to resolve at every start), or as tsc wrote it.
import { Command, CommanderError, Option } from 'commander';
import { EXIT_CODES, PgwardenError } from '../domain/errors.js';
import { PGWARDEN_VERSION } from '../config/version.js';
import { BACKUP_KINDS } from '../domain/kinds.js';
import { CommandContext } from './context.js';
import { Output } from './output.js';
import { declareWalFetch, declareWalPush } from './wal-commands.js';

type Action = (ctx: InstanceType<typeof CommandContext>, options: never) => Promise<void>;

const program = new Command('pgwarden')
  .description('Backup and recovery for PostgreSQL, as durable Temporal workflows.')
  .version(PGWARDEN_VERSION)
  .option('-c, --config <file>', 'configuration file (default: $PGWARDEN_CONFIG or ./pgwarden.yaml)')
  .option('--json', 'print one JSON object on stdout (for scripts)', false)
  .showHelpAfterError('(pgwarden --help lists the commands)')
  .exitOverride();

/**
 * Runs a command module, lazily imported so that `pgwarden --help` and the archive commands PostgreSQL runs
 * for every WAL segment start in milliseconds. The commands that run a Temporal worker (`worker`, `demo`) first
 * install its runtime; the others talk to Temporal through the client alone, which never uses that runtime, and do
 * not load @temporalio/worker (and the webpack it brings: a third of a CPU-second at every start).
 */
function run(load: () => Promise<Action>, uses: { workerRuntime: boolean } = { workerRuntime: false }) {
  return async (...received: unknown[]) => {
    // commander passes the positional arguments first, then the options, then the command.
    const command = received.at(-1) as InstanceType<typeof Command>;
    const options = { ...(received.at(-2) as object), args: received.slice(0, -2) };
    const globals = command.optsWithGlobals<{ config?: string; json: boolean }>();
    const ctx = new CommandContext(new Output(globals.json), globals.config);
    try {
      if (uses.workerRuntime) await installTemporalRuntime(command.name() === 'worker');
      const action = await load();
      await action(ctx, options as never);
      process.exitCode ??= EXIT_CODES.ok; // a command may have set its own (wal-fetch: 1 = not archived)
    } catch (error) {
      process.exitCode = ctx.out.failure(error);
    }
    // The command is over and has said everything. The Temporal client may still hold a retry of a call made while
    // the server was away (a restart, an outage) on a timer; one that fires after the command closed its connection
    // throws ("Channel has been shut down") and would turn the documented exit code into 1. End here, once stdout
    // and stderr have taken what was written. (The worker ends through its own shutdown, which sets its exit code.)
    if (command.name() !== 'worker') await exitOnceWritten();
  };
}

async function exitOnceWritten(): Promise<never> {
  await new Promise((resolve) => process.stdout.write('', resolve));
  await new Promise((resolve) => process.stderr.write('', resolve));
  process.exit();
}

program
  .command('worker')
  .description('run the worker: hosts pgwarden workflows and activities on the configured task queue')
  .option('--metrics <addr>', 'serve Prometheus metrics on HOST:PORT (for example 0.0.0.0:9464)')
  .action(run(async () => (await import('./commands/worker.js')).workerCommand as Action, { workerRuntime: true }));

program
  .command('backup')
  .description('back up a database now (logical: pg_dump, zstd, OpenPGP, upload) and wait for it')
  .requiredOption('--db <name>', 'database name from pgwarden.yaml')
  .addOption(new Option('--kind <kind>', 'what the backup is for (sets its retention)').choices([...BACKUP_KINDS]).default('manual'))
  .option('--no-wait', 'start it and return at once')
  .action(run(async () => (await import('./commands/backup.js')).backupCommand as Action));

program
  .command('restore')
  .description('restore a backup into a NEW database, verify row counts, report the time against the RTO')
  .requiredOption('--db <name>', 'database name from pgwarden.yaml whose backup to restore')
  .requiredOption('--backup <id>', 'backup id (see `pgwarden backups list`) or "latest"')
  .requiredOption('--into <newdb>', 'name of the database to create')
  .option('--replace-existing <name>', 'replace an existing --into database: repeat its name; the old one is kept, renamed')
  .option('--no-owner', 'do not restore object ownership (when the roles do not exist on the target server)')
  .option('--no-privileges', 'do not restore GRANT/REVOKE (with --no-owner: for a server without the backup\'s roles)')
  .option('--repository <name>', "read only from this repository (default: whichever of the database's repositories holds the backup)")
  .option('--table <schema.table>', 'restore only this table (repeat for more), with its sequences, indexes and constraints; foreign keys to tables not restored are left out and listed', (v: string, all: string[]) => [...all, v], [] as string[])
  .option('--schema <name>', 'restore only the tables of this schema (repeat for more)', (v: string, all: string[]) => [...all, v], [] as string[])
  .option('--local', 'run the restore in this process, without Temporal (for when Temporal is down)', false)
  .action(run(async () => (await import('./commands/restore.js')).restoreCommand as Action));

program
  .command('premigrate')
  .description('a pre-migration backup for migration ID (the same id gets the same backup), complete and verified in every repository of the kind; then run -- COMMAND and record how it ended')
  .requiredOption('--db <name>', 'database name from pgwarden.yaml')
  .requiredOption('--migration <id>', "the migration's id (e.g. Prisma's migration folder name)")
  .option('--timeout <duration>', 'how long to wait for the backup, a running backup of the database included (30m, 2h)', '1h')
  .option('--new', 'take a new backup even if this migration already has one', false)
  .argument('[command...]', 'the migration to run once the backup is verified, after -- (its output and exit code are passed on)')
  // Only Temporal's client (no native runtime): a migration waits for its backup, not for pgwarden to load.
  .action(run(async () => (await import('./commands/premigrate.js')).premigrateCommand as Action));

const backups = program.command('backups').description('look at the backups a repository holds');
backups
  .command('list')
  .description('list the complete backups of a database, newest last, with the RPO check')
  .requiredOption('--db <name>', 'database name from pgwarden.yaml')
  .option('--repository <name>', "list only this repository (default: all of the database's repositories)")
  .action(run(async () => (await import('./commands/backups.js')).listBackupsCommand as Action));
backups
  .command('diff')
  .description('what changed between two backups: rows and sizes per table, tables added and removed, definitions (columns, indexes, constraints); nothing is restored')
  .requiredOption('--db <name>', 'database name from pgwarden.yaml')
  .argument('<from>', 'backup id, "latest" or "previous" (the one before the newest)')
  .argument('<to>', 'backup id, "latest" or "previous"')
  .action(run(async () => (await import('./commands/backups.js')).diffBackupsCommand as Action));

program
  .command('demo')
  .description('set up a local Temporal dev server, PostgreSQL with a Cartly-like database and a repository; back up and restore through Temporal')
  .option('--dir <dir>', 'where the demo keeps its state', '.pgwarden/demo')
  .option('--orders <n>', 'orders in the sample database (about 1 KB of data each, everything included)', (v) => Number(v), 100_000)
  .option('--stop-after', 'stop Temporal and PostgreSQL at the end (they keep running by default, for the UI)', false)
  .option('--stop', 'only stop the services an earlier demo left running', false)
  .action(run(async () => (await import('./commands/demo.js')).demoCommand as Action, { workerRuntime: true }));

program
  .command('basebackup')
  .description('take a physical base backup (pg_basebackup) into the WAL archive\'s repository: the start of point-in-time restores')
  .requiredOption('--db <name>', 'database (cluster) name from pgwarden.yaml')
  .option('--no-wait', 'start it and return at once')
  .action(run(async () => (await import('./commands/basebackup.js')).baseBackupCommand as Action));

program
  .command('pitr')
  .description('restore to a moment: base backup + WAL into a NEW data directory, started on a free port, verified')
  .requiredOption('--db <name>', 'database (cluster) name from pgwarden.yaml')
  .requiredOption('--to <target>', 'time with zone (2026-11-25T14:30:00+01:00), LSN (0/3000028), xid:N, name:POINT, or latest')
  .option('--datadir <dir>', 'data directory to create (default: under the cluster user\'s home)')
  .option('--port <n>', 'port for the restored cluster (default: a free one)', (v) => Number(v))
  .option('--backup <id>', 'base backup to start from (default: the newest before the target)')
  .option('--timeline <n>', 'timeline to recover along (default: the source\'s current one when it descends from the base backup, else the backup\'s own)', (v) => Number(v))
  .option('--archive', 'let the restored cluster archive its WAL, under a name of its own beside the source\'s archive', false)
  .option('--archive-as <name>', 'archive under this name; the source\'s own name writes into its archive (for a copy that becomes the new primary)')
  .option('--local', 'run it in this process, without Temporal (for when Temporal is down)', false)
  .action(run(async () => (await import('./commands/pitr.js')).pitrCommand as Action));

const branchesCommand = program.command('branches').description('the Neon branches pgwarden made: point-in-time restores, backup branches left behind');
branchesCommand
  .command('list')
  .description('list the branches pgwarden made for a Neon database')
  .requiredOption('--db <name>', 'Neon database name from pgwarden.yaml')
  .action(run(async () => (await import('./commands/branches.js')).listBranchesCommand as Action));
branchesCommand
  .command('delete')
  .description('delete a branch pgwarden made (it refuses any other)')
  .requiredOption('--db <name>', 'Neon database name from pgwarden.yaml')
  .requiredOption('--branch <id|name>', 'the branch, as `branches list` shows it')
  .action(run(async () => (await import('./commands/branches.js')).deleteBranchCommand as Action));

program
  .command('expire')
  .description('apply retention: logical backups per kind, base backups and WAL outside the PITR window (a workflow records what went)')
  .requiredOption('--db <name>', 'database name from pgwarden.yaml')
  .option('--dry-run', 'say what would be removed, remove nothing', false)
  .action(run(async () => (await import('./commands/expire.js')).expireCommand as Action));

const schedules = program.command('schedules').description('the backup schedules, as Temporal Schedules');
schedules
  .command('apply')
  .description("create or update the schedules (runbook defaults: daily 02:00, weekly Sun 01:00, monthly first Mon 00:00 UTC, …)")
  .option('--db <name>', 'only this database')
  .option('--dry-run', 'list them, change nothing', false)
  .action(run(async () => (await import('./commands/schedules.js')).schedulesApplyCommand as Action));

const wal = program.command('wal').description('look at the WAL archive');
wal
  .command('status')
  .description('archived range, gaps, age of the newest segment (the current RPO) and the restore window')
  .requiredOption('--db <name>', 'database (cluster) name from pgwarden.yaml')
  .action(run(async () => (await import('./commands/wal-status.js')).walStatusCommand as Action));

declareWalPush(program).action(run(async () => (await import('./commands/wal.js')).walPushCommand as Action));
declareWalFetch(program).action(run(async () => (await import('./commands/wal.js')).walFetchCommand as Action));

program
  .command('wal-push-daemon', { hidden: true })
  .requiredOption('--db <name>')
  .requiredOption('--pg-wal <dir>')
  .requiredOption('--spool <dir>')
  .option('--concurrency <n>', 'parallel uploads', (v) => Number(v), 4)
  .action(run(async () => (await import('./commands/wal.js')).walPushDaemonCommand as Action));

program
  .command('wal-prefetch', { hidden: true })
  .requiredOption('--db <name>')
  .requiredOption('--after <name>')
  .requiredOption('--spool <dir>')
  .option('--count <n>', 'segments', (v) => Number(v), 8)
  .action(run(async () => (await import('./commands/wal.js')).walPrefetchCommand as Action));

program
  .command('verify')
  .description('read every object of the backups back: size, sha256, decryption; with --wal the WAL each base backup needs')
  .requiredOption('--db <name>', 'database name from pgwarden.yaml')
  .option('--backup <id>', 'a backup id, "latest" or "all"', 'latest')
  .option('--wal', 'also check the WAL archive (PITR databases)', false)
  .action(run(async () => (await import('./commands/verify.js')).verifyCommand as Action));

program
  .command('drill')
  .description('restore drill: the latest backup (and, with PITR, the latest moment) into a drill database, checked against the RTO, RPO and assertions, then dropped')
  .requiredOption('--db <name>', 'database name from pgwarden.yaml')
  .option('--no-pitr', 'only the logical restore, even for a PITR database')
  .action(run(async () => (await import('./commands/drill.js')).drillCommand as Action));

program
  .command('status')
  .description('every database at a glance: newest backups against the RPO, last verification and drill, PITR window, alerts (works with Temporal down)')
  .option('--db <name>', 'only this database')
  .action(run(async () => (await import('./commands/status.js')).statusCommand as Action));

program
  .command('rekey')
  .description('key rotation: re-wrap the data keys of existing backups and WAL for the current keys (no data is read or rewritten)')
  .option('--db <name>', 'database name from pgwarden.yaml')
  .option('--all', 'every database in pgwarden.yaml', false)
  .action(run(async () => (await import('./commands/rekey.js')).rekeyCommand as Action));

const configCommand = program.command('config').description('check pgwarden.yaml');
configCommand
  .command('check')
  .description('validate the file, the secrets it names, and reach each database, repository and alert channel')
  .option('--send-test', 'also send a test alert (trigger, then resolve) to each alert channel', false)
  .action(run(async () => (await import('./commands/config-check.js')).configCheckCommand as Action));

/**
 * Temporal's Rust core logs to stderr; commands other than `worker` only want its warnings. Only the worker lets
 * the runtime take SIGINT/SIGTERM (for its graceful shutdown): elsewhere the runtime would swallow the first
 * Ctrl-C, and the commands that wait handle the signals themselves (client/follow.ts).
 */
async function installTemporalRuntime(isWorker: boolean): Promise<void> {
  const { DefaultLogger, Runtime } = await import('@temporalio/worker');
  /** The worker's activity-only Workers (job and host task queues) say at every start what is meant: not a warning. */
  class WorkerLogger extends DefaultLogger {
    override log(...[level, message, meta]: Parameters<InstanceType<typeof DefaultLogger>['log']>): void {
      if (message === 'No workflows registered, not polling for workflow tasks') return;
      super.log(level, message, meta);
    }
  }
  Runtime.install({
    logger: new WorkerLogger((process.env.PGWARDEN_LOG_LEVEL as never) ?? (isWorker ? 'INFO' : 'WARN')),
    ...(isWorker ? {} : { shutdownSignals: [] }),
  });
}

try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof CommanderError) {
    const informational = ['commander.helpDisplayed', 'commander.version', 'commander.help'].includes(error.code);
    process.exitCode = informational ? 0 : EXIT_CODES.Usage;
    // Commander printed the message on stderr; a script that asked for --json gets the error object on stdout too.
    if (!informational && process.argv.includes('--json')) new Output(true).failure(new PgwardenError('Usage', error.message.replace(/^error: /, '')));
  } else {
    process.exitCode = new Output(process.argv.includes('--json')).failure(error instanceof Error ? error : new PgwardenError('Failed', String(error)));
  }
}
