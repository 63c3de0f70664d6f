// Activities of the logical restore workflow: plan and check, load into a staging database and verify it,
// then give it the target's name. Nothing existing is touched before a verified copy is in place.
import { PgwardenError } from '../domain/errors.js';
import { databaseView } from '../config/load.js';
import type { Config } from '../config/schema.js';
import type { Progress } from '../domain/progress.js';
import type { TableCheck } from '../domain/restore.js';
import { locateBackup } from './catalog/locate.js';
import { backupFolder, readManifest, type BackupManifest, type StoredObjectEntry } from './catalog/manifest.js';
import { objectSecretOf } from './keys/backup-keys.js';
import type { Sha256Meter } from './pipeline/measure.js';
import { unsealInto } from './pipeline/seal.js';
import { pgTool } from './postgres/binaries.js';
import { connect, quoteIdent, withDatabase, type PgEndpoint } from './postgres/connection.js';
import { restoreTarget } from './providers/source.js';
import { planFreshProjectRestore, restoreIntoFreshProject, type FreshProjectRestoreInput, type SequencePosition } from './providers/supabase-restore.js';
import { serverInfo } from './postgres/inventory.js';
import { lockRestores, withRestoreLock } from './postgres/restore-lock.js';
import { checkDatabaseName, connectMaintenance, copyCounts, databaseExists, dropDatabase, explainLoadFailure, loadEnv, pgRestoreStep, psqlStep, restoreFlags } from './postgres/load.js';
import type { Step } from './pipeline/chain.js';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import type pg from 'pg';
import { currentReporter, inParallel, reportEvery } from './progress.js';
import { openRepository } from './storage/open.js';
import { childEnvironment } from './process-environment.js';

export interface PlanRestoreInput {
  database: string;
  backup: string;
  target: string;
  replaceExisting?: string;
  repository?: string;
  /** Makes the staging name unique to this workflow run. */
  runId: string;
  /** 'drill': onto the drill server (drill.connection). */
  server?: 'drill';
}

export interface RestorePlan {
  backupId: string;
  repository: string;
  staging: string;
  targetExists: boolean;
  server: string;
  tables: number;
  storedBytes: number;
  rtoMs?: number;
  /** fresh-project: loaded in one transaction into the existing database of a new Supabase project (no staging, no rename). */
  mode?: 'fresh-project';
  /** fresh-project: where the project's sequences stood before the load (a rollback does not undo setval()). */
  sequences?: SequencePosition[];
  /** What the person restoring should know: newer backups passed over because they are damaged. */
  warnings?: string[];
}

export interface RestoreLogicalInput {
  database: string;
  backupId: string;
  repository: string;
  staging: string;
  noOwner: boolean;
  noPrivileges?: boolean;
  /** Written as the database's comment: where it came from, for whoever finds it later. */
  provenance: string;
  server?: 'drill';
}

/** Mismatched tables named in a result; the rest are counted. A result enters the workflow history: it must stay
 *  small for a database with 10,000 tables. */
export const MISMATCHES_LISTED = 20;

/** A summary of the row-count check, never one entry per table. */
export interface RestoreLogicalOutput {
  tables: number; // tables checked against the manifest's row counts
  rows: number; // rows they hold
  mismatchedTables: number;
  mismatches: TableCheck[]; // the first MISMATCHES_LISTED of them
  restoreMs: number;
  /** What was left out because the target refused it (a Supabase project: a membership of a platform role). */
  warnings?: string[];
}

export interface PublishInput {
  database: string;
  staging: string;
  target: string;
  replaceExisting?: string;
  /** Suffix of the name the replaced database keeps ("20261125T031500Z"). */
  keepSuffix: string;
  server?: 'drill';
  /** The staging database's comment (restoreLogical's provenance): how a retry knows the restored copy by its new name. */
  provenance?: string;
}

export function restoreActivities(config: Config) {
  const activities = unlockedRestoreActivities(config);
  // Loading and renaming hold the database's restore lock (activities/postgres/restore-lock.ts).
  const locked = <I extends { database: string; staging: string; server?: 'drill' }, O>(step: (input: I) => Promise<O>) => async (input: I) =>
    withRestoreLock(await restoreTarget(config, input.database, input.server), restoreLockName(input), runOfStaging(input.staging), () => step(input));
  return { ...activities, restoreLogical: locked(activities.restoreLogical), publishRestore: locked(activities.publishRestore) };
}

function unlockedRestoreActivities(config: Config) {
  return {
    async planRestore(input: PlanRestoreInput): Promise<RestorePlan> {
      const db = databaseView(config, input.database);
      checkDatabaseName(input.target, '--into');
      if (input.replaceExisting !== undefined && input.replaceExisting !== input.target) {
        throw new PgwardenError(
          'Usage',
          `--replace-existing must repeat the target database's name exactly ("${input.target}"), got "${input.replaceExisting}": nothing was changed.`,
        );
      }
      // In whichever repository holds it (kinds can go to different ones), unless the caller named one.
      const { manifest, repository, passedOver } = await locateBackup(config, input.database, input.backup, input.repository);
      const warnings = passedOver.map((d) => `Newer backup ${d.id} was passed over: ${d.reason}`);
      // The key first, before any server is asked: a wrong or missing key fails in seconds, with nothing created.
      await objectSecretOf(config, openRepository(config, repository), backupFolder(input.database, 'logical', manifest.id), manifest);
      // A Supabase backup goes into a fresh project's existing database, not into a new one.
      if (manifest.provider?.name === 'supabase') return planFreshProjectRestore(config, { ...input, repository, manifest });

      const endpoint = await restoreTarget(config, input.database, input.server);
      const client = await connectMaintenance(endpoint, 'restore check');
      try {
        const server = await serverInfo(client);
        const dumpMajor = Math.floor(manifest.server.versionNum / 10_000);
        if (server.major < dumpMajor) {
          throw new PgwardenError(
            'Refused',
            `Backup ${manifest.id} comes from PostgreSQL ${manifest.server.version} but ${endpoint.display} runs ${server.version}: restore into PostgreSQL ${dumpMajor} or newer.`,
          );
        }
        await pgTool('pg_restore', Math.max(server.major, dumpMajor), config.postgres.binDir);
        const { rows } = await client.query<{ may: boolean; who: string }>(
          'SELECT (rolcreatedb OR rolsuper) AS may, rolname AS who FROM pg_roles WHERE rolname = current_user',
        );
        if (!rows[0]?.may) {
          throw new PgwardenError('Config', `User "${rows[0]?.who}" on ${endpoint.display} may not create databases: grant CREATEDB, or restore with a user that may.`);
        }
        const targetExists = await databaseExists(client, input.target);
        if (targetExists && input.replaceExisting !== input.target) {
          throw new PgwardenError(
            'Refused',
            `Database "${input.target}" already exists on ${endpoint.display}: nothing was changed. Restore into a new name (--into ${input.target}_restored), ` +
              `or replace it with --replace-existing ${input.target} (the current one is kept under another name).`,
          );
        }
        if (targetExists) await checkMayReplace(client, input.target, endpoint.display);
        // Another restore of this database (through Temporal or --local) is running: refuse before anything is made.
        await (await lockRestores(endpoint, restoreLockName(input), runTag(input.runId))).release();
        return {
          backupId: manifest.id,
          repository,
          staging: stagingName(input.target, input.runId),
          targetExists,
          server: endpoint.display,
          tables: Object.keys(manifest.tables).length,
          storedBytes: manifest.storedBytes,
          ...(db.rtoMs !== undefined ? { rtoMs: db.rtoMs } : {}),
          ...(warnings.length ? { warnings } : {}),
        };
      } finally {
        await client.end().catch(() => undefined);
      }
    },

    async restoreLogical(input: RestoreLogicalInput): Promise<RestoreLogicalOutput> {
      return restoreLogical(config, input);
    },

    async restoreIntoFreshProject(input: FreshProjectRestoreInput): Promise<RestoreLogicalOutput> {
      return restoreIntoFreshProject(config, input);
    },

    /**
     * Gives the verified staging database the target's name; a replaced database is renamed, never dropped. Both
     * renames are one transaction: whatever fails or crashes in between, the target's name is never missing.
     * Safe to retry: a retry after the commit finds the restored copy under the target's name and reports it.
     */
    async publishRestore(input: PublishInput): Promise<{ previousDatabaseKeptAs?: string }> {
      return swapIn(await restoreTarget(config, input.database, input.server), input);
    },

    /** Compensation: removes a staging database that a failed or cancelled restore left. */
    async dropStagingDatabase(input: { database: string; staging: string; server?: 'drill' }): Promise<void> {
      if (!input.staging.includes('_pgwrestore_')) throw new PgwardenError('Failed', `Refusing to drop "${input.staging}": not a pgwarden staging database.`);
      const client = await connectMaintenance(await restoreTarget(config, input.database, input.server), 'restore cleanup');
      try {
        await dropDatabase(client, input.staging);
      } finally {
        await client.end().catch(() => undefined);
      }
    },
  };
}

/** "<target>_pgwrestore_<8 chars of the run id>": unique per run, recognisable, within 63 bytes. The last chars:
 *  run ids are UUIDv7, whose first ones are a timestamp that runs a minute apart share. */
export function stagingName(target: string, runId: string): string {
  return `${target.slice(0, 40)}_pgwrestore_${runTag(runId)}`;
}

function runTag(runId: string): string {
  return runId.replace(/-/g, '').slice(-8);
}

/** The run a staging database belongs to (the tag stagingName put at its end). */
function runOfStaging(staging: string): string {
  return staging.slice(staging.lastIndexOf('_pgwrestore_') + '_pgwrestore_'.length);
}

/** One restore per database at a time; a drill (onto the drill server) never keeps a real restore waiting. */
function restoreLockName(input: { database: string; server?: 'drill' }): string {
  return input.server ? `${input.database} (${input.server})` : input.database;
}

async function restoreLogical(config: Config, input: RestoreLogicalInput): Promise<RestoreLogicalOutput> {
  const started = Date.now();
  const repo = openRepository(config, input.repository);
  const folder = backupFolder(input.database, 'logical', input.backupId);
  const manifest = await readManifest(repo, folder);
  if (!manifest) throw new PgwardenError('NotFound', `Backup ${input.backupId} of "${input.database}" has no manifest in repository "${input.repository}".`);
  const { secret: passphrase } = await objectSecretOf(config, repo, folder, manifest);
  const server = await restoreTarget(config, input.database, input.server);
  const staging = withDatabase(server, input.staging);
  const reporter = currentReporter();
  const abort = new AbortController();
  const onCancel = () => abort.abort(reporter.signal?.reason);
  reporter.signal?.addEventListener('abort', onCancel, { once: true });

  const meters: Sha256Meter[] = [];
  let phase = 'creating database';
  let objectsDone = 0;
  const stopReporting = reportEvery(reporter, (): Progress => ({
    phase,
    bytesDone: meters.reduce((sum, m) => sum + m.bytes, 0),
    bytesTotal: manifest.storedBytes,
    itemsDone: objectsDone,
    itemsTotal: manifest.objects.length,
  }));

  const maintenance = await connectMaintenance(server, 'restore');
  let succeeded = false;
  try {
    const major = (await serverInfo(maintenance)).major;
    const dumpMajor = Math.floor(manifest.server.versionNum / 10_000);
    const pgRestore = await pgTool('pg_restore', Math.max(major, dumpMajor), config.postgres.binDir);
    const psql = await pgTool('psql', Math.max(major, dumpMajor), config.postgres.binDir);

    await dropDatabase(maintenance, input.staging); // left by an earlier attempt of this run
    await createLike(maintenance, input.staging, manifest, input.provenance);

    const unseal = (object: StoredObjectEntry, consumer: Step[], output: 'collect' | 'ignore') =>
      unsealInto(repo, { key: `${folder}${object.name}`, sha256: object.sha256, storedBytes: object.storedBytes }, passphrase, consumer, {
        signal: abort.signal,
        onMeter: (meter) => meters.push(meter),
        output,
      }).then((out) => {
        objectsDone += 1;
        return out;
      });
    const byRole = (role: StoredObjectEntry['role']) => manifest.objects.filter((o) => o.role === role);
    const what = (object: StoredObjectEntry) => `${object.name} of backup ${manifest.id}`;

    phase = 'restoring schema';
    const options = { noOwner: input.noOwner, noPrivileges: input.noPrivileges ?? false };
    for (const object of byRole('pre-data')) await unseal(object, [pgRestoreStep(pgRestore, staging, options, what(object))], 'ignore');

    // Rows, largest objects first, `jobs` at a time; each COPY reports how many rows the server took in.
    phase = 'loading data';
    const loaded = new Map<string, number>();
    const data = byRole('data').sort((a, b) => b.rawBytes - a.rawBytes);
    await inParallel(data, config.backup.jobs, async (object) => {
      try {
        const counts = copyCounts((await unseal(object, [psqlStep(psql, staging, what(object))], 'collect')).toString('utf8'));
        const tables = object.tables ?? [];
        if (counts.length !== tables.length) {
          throw new PgwardenError('Integrity', `${what(object)} loaded ${counts.length} tables, but the manifest lists ${tables.length} for it: the backup does not match its manifest.`);
        }
        tables.forEach((table, i) => loaded.set(table, (loaded.get(table) ?? 0) + counts[i]!));
      } catch (error) {
        abort.abort(error); // stop the other loads: this restore has failed
        throw error;
      }
    });

    // Indexes and constraints: the archive is schema only (small), so it goes to a file that pg_restore can
    // work through with several jobs: indexes of different tables build at the same time.
    phase = 'building indexes and constraints';
    for (const object of byRole('post-data')) {
      const archive = await unseal(object, [], 'collect');
      const dir = await mkdtemp(join(tmpdir(), 'pgwarden-post-data-'));
      try {
        const file = join(dir, 'post-data.pgdump');
        await writeFile(file, archive, { mode: 0o600 });
        await execa(pgRestore, ['--exit-on-error', '--no-password', `--jobs=${Math.max(1, config.backup.jobs)}`, `--dbname=${staging.database}`, ...restoreFlags(options), file], {
          env: childEnvironment(loadEnv(staging)),
          extendEnv: false,
          ...(abort.signal ? { cancelSignal: abort.signal } : {}),
        }).catch((error: unknown) => {
          const e = error as { stderr?: unknown; exitCode?: number; isCanceled?: boolean; code?: string };
          if (e.isCanceled) throw new PgwardenError('Failed', `pg_restore for ${what(object)} was cancelled.`, { cause: error, retryable: false });
          if (e.code === 'ENOENT') throw new PgwardenError('Config', `pg_restore is not installed (${pgRestore}): install the PostgreSQL client tools.`, { cause: error });
          throw explainLoadFailure('pg_restore', what(object), typeof e.stderr === 'string' ? e.stderr : String(error), e.exitCode ?? null, options);
        });
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    }

    phase = 'checking row counts';
    const checks: TableCheck[] = Object.entries(manifest.tables).map(([table, expected]) => ({ table, expected, actual: loaded.get(table) ?? -1 }));
    const mismatches = checks.filter((c) => c.expected !== c.actual);
    if (mismatches.length > 0) {
      throw new PgwardenError(
        'Integrity',
        `Restored row counts differ from backup ${manifest.id}'s manifest in ${mismatches.length} table(s): ` +
          mismatches.slice(0, 5).map((m) => `${m.table} expected ${m.expected}, got ${m.actual}`).join('; ') +
          '. The restored copy was discarded; nothing else was changed.',
      );
    }

    // Planner statistics, so the restored database is fast from its first query; tables in parallel.
    phase = 'analyzing';
    const clients = await Promise.all(Array.from({ length: Math.max(1, config.backup.jobs) }, () => connect(staging, 'restore analyze')));
    try {
      const tables = Object.keys(manifest.tables);
      await inParallel(
        clients.map((_, i) => tables.filter((_t, j) => j % clients.length === i)),
        clients.length,
        async (share, i) => {
          for (const table of share) await clients[i]!.query(`ANALYZE ${table}`);
        },
      );
    } finally {
      await Promise.all(clients.map((c) => c.end().catch(() => undefined)));
    }
    succeeded = true;
    return {
      tables: checks.length,
      rows: checks.reduce((sum, c) => sum + Math.max(0, c.actual), 0),
      mismatchedTables: mismatches.length,
      mismatches: mismatches.slice(0, MISMATCHES_LISTED),
      restoreMs: Date.now() - started,
    };
  } finally {
    stopReporting();
    reporter.signal?.removeEventListener('abort', onCancel);
    // Unless Temporal already gave this attempt up: the next one may be loading into the same staging database.
    if (!succeeded && !reporter.superseded()) await dropDatabase(maintenance, input.staging).catch(() => undefined);
    await maintenance.end().catch(() => undefined);
  }
}

/** CREATE DATABASE with the source's encoding and collation, falling back to the server's when it lacks them. */
async function createLike(client: import('pg').Client, name: string, manifest: BackupManifest, provenance: string): Promise<void> {
  const source = manifest.source;
  const literal = (text: string) => `'${text.replace(/'/g, "''")}'`;
  const withLocale = source
    ? ` ENCODING ${literal(source.encoding)} LC_COLLATE ${literal(source.collate)} LC_CTYPE ${literal(source.ctype)}`
    : '';
  try {
    await client.query(`CREATE DATABASE ${quoteIdent(name)} TEMPLATE template0${withLocale}`);
  } catch (error) {
    if (!withLocale || !/locale|collation|encoding/i.test((error as Error).message)) throw error;
    throw new PgwardenError(
      'Refused',
      `Cannot create "${name}" with the source database's encoding ${source!.encoding} and locale ${source!.collate}: ${(error as Error).message}. ` +
        'Install that locale on the target server, or restore to a server that has it.',
      { cause: error },
    );
  }
  await client.query(`COMMENT ON DATABASE ${quoteIdent(name)} IS ${literal(provenance)}`);
}

/** "<target>_before_<suffix>": the name a replaced database keeps. */
function keptName(target: string, keepSuffix: string): string {
  return `${target.slice(0, 40)}_before_${keepSuffix}`;
}

/**
 * The swap. ALTER DATABASE … RENAME runs inside a transaction, so both renames commit together or not at all;
 * a retry reads back what the last attempt did. Sessions on both databases are ended first (applications
 * reconnect at once, so it keeps ending them until the renames hold their locks); one the restore user may not
 * end stops the swap before anything changed.
 */
async function swapIn(endpoint: PgEndpoint, input: PublishInput): Promise<{ previousDatabaseKeptAs?: string }> {
  const { staging, target } = input;
  const keptAs = keptName(target, input.keepSuffix);
  const replacing = input.replaceExisting === target;
  const client = await connectMaintenance(endpoint, 'restore publish');
  try {
    // Waiting on a lock holds production's sessions off; failing (nothing changed) and retrying is better.
    await client.query(`SET lock_timeout = '5s'`);
    const found = await databaseStates(client, [staging, target, keptAs]);

    if (!found.has(staging)) {
      const current = found.get(target);
      // A retry after the commit: the restored copy (known by its provenance) has the target's name.
      if (current && (input.provenance === undefined || current.comment === input.provenance)) {
        return replacing && found.has(keptAs) ? { previousDatabaseKeptAs: keptAs } : {};
      }
      throw new PgwardenError('Failed', `The restored staging database "${staging}" has disappeared before it was renamed to "${target}": run the restore again.`, { retryable: false });
    }
    const old = found.get(target);
    if (old && !replacing) {
      throw new PgwardenError('Refused', `Database "${target}" appeared on ${endpoint.display} during the restore: the restored copy was discarded, nothing else was changed.`);
    }
    if (old && found.has(keptAs)) {
      throw new PgwardenError(
        'Refused',
        `Database "${keptAs}", the name the replaced "${target}" would keep, already exists on ${endpoint.display}: nothing was changed. Rename or drop it, then restore again.`,
      );
    }

    const oids = [found.get(staging)!.oid, ...(old ? [old.oid] : [])];
    const stuck = await endSessions(client, oids);
    if (stuck.length) {
      throw new PgwardenError(
        'Failed',
        `Cannot swap the restored database in on ${endpoint.display}: ${stuck.join('; ')}. Nothing was changed: "${target}" is as it was. ` +
          'End those sessions (or let the restore user end them: superuser, or a member of pg_signal_backend and not ending a superuser), then restore again.',
        { retryable: false },
      );
    }
    const sweeper = keepEndingSessions(endpoint, oids);
    try {
      await client.query('BEGIN');
      if (old) await renameDatabase(client, target, keptAs);
      await renameDatabase(client, staging, target);
      await sweeper.stop(); // before the commit: after it, the target's name belongs to the restored copy
      await client.query('COMMIT');
    } catch (error) {
      await sweeper.stop();
      await client.query('ROLLBACK').catch(() => undefined);
      throw new PgwardenError(
        'Failed',
        `Could not ${old ? `rename "${target}" to "${keptAs}" and ` : ''}rename the restored database "${staging}" to "${target}" on ${endpoint.display}: ` +
          `${(error as Error).message}. Nothing was changed${old ? `: "${target}" is as it was` : ''}.`,
        { cause: error },
      );
    }
    return old ? { previousDatabaseKeptAs: keptAs } : {};
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function databaseStates(client: pg.Client, names: string[]): Promise<Map<string, { oid: number; comment: string | null }>> {
  const { rows } = await client.query<{ datname: string; oid: number; comment: string | null }>(
    `SELECT datname, oid::int8 AS oid, shobj_description(oid, 'pg_database') AS comment FROM pg_database WHERE datname = ANY($1)`,
    [names],
  );
  return new Map(rows.map((r) => [r.datname, { oid: Number(r.oid), comment: r.comment }]));
}

async function renameDatabase(client: pg.Client, from: string, to: string): Promise<void> {
  await client.query(`ALTER DATABASE ${quoteIdent(from)} RENAME TO ${quoteIdent(to)}`);
}

/**
 * Ends the other sessions on the databases `oids` (they take a moment to go, which the renames wait for); returns,
 * in words, what cannot be ended: sessions the restore user may not end, prepared transactions.
 */
async function endSessions(client: pg.Client, oids: number[]): Promise<string[]> {
  const stuck: string[] = [];
  const { rows } = await client.query<{ pid: number; who: string }>(
    `SELECT pid, format('a session of %s (pid %s) on "%s"', usename, pid, datname) AS who FROM pg_stat_activity WHERE datid = ANY($1::oid[]) AND pid <> pg_backend_pid()`,
    [oids],
  );
  for (const row of rows) {
    await client.query('SELECT pg_terminate_backend($1)', [row.pid]).catch((error: unknown) => stuck.push(`${row.who} cannot be ended: ${(error as Error).message}`));
  }
  const prepared = await client.query<{ who: string }>(
    `SELECT format('prepared transaction %L of %s holds "%s"', gid, owner, database) AS who FROM pg_prepared_xacts p JOIN pg_database d ON d.datname = p.database WHERE d.oid = ANY($1::oid[])`,
    [oids],
  );
  return [...stuck, ...prepared.rows.map((r) => `${r.who}: COMMIT PREPARED or ROLLBACK PREPARED it`)];
}

/** Ends sessions that connect to the databases `oids` until stop(): the renames wait for those to leave. */
function keepEndingSessions(endpoint: PgEndpoint, oids: number[]): { stop(): Promise<void> } {
  let stopped = false;
  const sweeping = (async () => {
    const client = await connectMaintenance(endpoint, 'restore publish sweeper').catch(() => undefined);
    try {
      while (client && !stopped) {
        await client
          .query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datid = ANY($1::oid[]) AND pid <> pg_backend_pid()', [oids])
          .catch(() => undefined);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    } finally {
      await client?.end().catch(() => undefined);
    }
  })();
  return {
    async stop() {
      stopped = true;
      await sweeping;
    },
  };
}

/** Replacing a database renames it, which only its owner (or a superuser) may: checked before the long restore. */
async function checkMayReplace(client: pg.Client, target: string, display: string): Promise<void> {
  const { rows } = await client.query<{ may: boolean; owner: string; who: string }>(
    `SELECT pg_has_role(current_user, datdba, 'USAGE') OR (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) AS may,
            pg_get_userbyid(datdba) AS owner, current_user AS who
       FROM pg_database WHERE datname = $1`,
    [target],
  );
  const row = rows[0];
  if (row && !row.may) {
    throw new PgwardenError(
      'Refused',
      `Database "${target}" on ${display} belongs to role "${row.owner}"; user "${row.who}" may not rename it, so it cannot replace it: nothing was changed. ` +
        `Restore with a user that is "${row.owner}" (or a member of it) or a superuser, or restore into a new name.`,
    );
  }
}
