// Loading a logical backup into a staging database: schema, rows (largest first, in parallel, each COPY's row
// count checked against the manifest), indexes and constraints, planner statistics. A failed load leaves nothing.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import type pg from 'pg';
import { PgwardenError } from '../../domain/errors.js';
import type { Progress } from '../../domain/progress.js';
import type { TableCheck } from '../../domain/restore.js';
import { backupFolder, readManifest, type BackupManifest, type StoredObjectEntry } from '../catalog/manifest.js';
import type { DatabaseContext } from '../database-context.js';
import { objectSecretOf } from '../keys/backup-keys.js';
import type { Step } from '../pipeline/chain.js';
import { FilterGroup } from '../pipeline/filters.js';
import { unsealInto } from '../pipeline/seal.js';
import { pgTool } from '../postgres/binaries.js';
import { connect, quoteIdent, withDatabase, type PgEndpoint } from '../postgres/connection.js';
import { serverInfo } from '../postgres/inventory.js';
import { connectMaintenance, copyCounts, dropDatabase, explainLoadFailure, loadEnv, pgRestoreStep, psqlStep, restoreFlags, type LoadOptions } from '../postgres/load.js';
import { childEnvironment } from '../process-environment.js';
import { currentReporter, inParallel, reportEvery } from '../progress.js';
import { MISMATCHES_LISTED, type RestoreLogicalInput, type RestoreLogicalOutput } from './inputs.js';
import { copyFilterStep, postDataFor, preDataFor, selectTables, type SchemaSelection } from './tables.js';

/** What the load steps share: the backup, where it goes, and how one stored object is read. */
interface Load {
  manifest: BackupManifest;
  staging: PgEndpoint;
  options: LoadOptions;
  jobs: number;
  pgRestore: string;
  psql: string;
  abort: AbortController;
  /** Reads one object of the backup through its checks into `consumer`. */
  unseal(object: StoredObjectEntry, consumer: Step[], output: 'collect' | 'ignore'): Promise<Buffer>;
}

// The steps are the functions below; what stays here is their order, the progress they share and the clean-up.
export async function restoreLogical(db: DatabaseContext, input: RestoreLogicalInput): Promise<RestoreLogicalOutput> {
  const config = db.config;
  const started = Date.now();
  const repo = db.repository(input.repository);
  const folder = backupFolder(input.database, 'logical', input.backupId);
  const manifest = await readManifest(repo, folder);
  if (!manifest) throw new PgwardenError('NotFound', `Backup ${input.backupId} of "${input.database}" has no manifest in repository "${input.repository}".`);
  // Some tables only: the names are checked before anything is created.
  const only = input.tables || input.schemas ? selectTables(manifest, input.tables ?? [], input.schemas ?? []) : undefined;
  const { secret: passphrase } = await objectSecretOf(config, repo, folder, manifest);
  const server = await db.restoreTarget(input.server);
  const staging = withDatabase(server, input.staging);
  const reporter = currentReporter();
  const abort = new AbortController();
  const onCancel = () => abort.abort(reporter.signal?.reason);
  reporter.signal?.addEventListener('abort', onCancel, { once: true });

  const paths: FilterGroup[] = [];
  let phase = 'creating database';
  // How long each step took (ms), in the result: where a restore's time goes, for the RTO and the benchmark.
  const phasesMs: Record<string, number> = {};
  let phaseStarted = Date.now();
  const enter = (next: string) => {
    phasesMs[phase] = (phasesMs[phase] ?? 0) + (Date.now() - phaseStarted);
    phase = next;
    phaseStarted = Date.now();
  };
  let objectsDone = 0;
  const stopReporting = reportEvery(reporter, (): Progress => ({
    phase,
    bytesDone: paths.reduce((sum, p) => sum + p.bytes('stored-size'), 0),
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

    const load: Load = {
      manifest,
      staging,
      options: { noOwner: input.noOwner, noPrivileges: input.noPrivileges ?? false },
      jobs: config.backup.jobs,
      pgRestore,
      psql,
      abort,
      unseal: async (object, consumer, output) => {
        const filters = new FilterGroup();
        paths.push(filters);
        const out = await unsealInto(repo, { key: `${folder}${object.name}`, sha256: object.sha256, storedBytes: object.storedBytes }, passphrase, consumer, { filters, signal: abort.signal, output });
        objectsDone += 1;
        return out;
      },
    };

    enter('restoring schema');
    let selection: SchemaSelection | undefined;
    let leftOut: string[] = [];
    if (only) selection = await loadSelectedSchema(load, only);
    else for (const object of byRole(manifest, 'pre-data')) await load.unseal(object, [pgRestoreStep(pgRestore, staging, load.options, what(manifest, object))], 'ignore');
    enter('loading data');
    const loaded = await loadRows(load, selection);
    enter('building indexes and constraints');
    if (selection) leftOut = await buildSelectedIndexes(load, selection);
    else await buildIndexes(load);
    enter('checking row counts');
    const checks = checkRowCounts(manifest, loaded, only);
    const mismatches = checks.filter((c) => c.expected !== c.actual);
    // After the indexes: an expression index has statistics of its own. Analyzing each table as soon as its rows
    // were in, beside the other loads, was measured (issue 22) and won nothing on 2 cores: the loads use them all.
    enter('analyzing');
    await analyze(staging, only ?? Object.keys(manifest.tables), config.backup.jobs);
    enter('done');
    succeeded = true;
    return {
      tables: checks.length,
      rows: checks.reduce((sum, c) => sum + Math.max(0, c.actual), 0),
      mismatchedTables: mismatches.length,
      mismatches: mismatches.slice(0, MISMATCHES_LISTED),
      restoreMs: Date.now() - started,
      phasesMs,
      ...(leftOut.length ? { leftOut: leftOut.slice(0, MISMATCHES_LISTED) } : {}),
    };
  } finally {
    stopReporting();
    reporter.signal?.removeEventListener('abort', onCancel);
    // Unless Temporal already gave this attempt up: the next one may be loading into the same staging database.
    if (!succeeded && !reporter.superseded()) await dropDatabase(maintenance, input.staging).catch(() => undefined);
    await maintenance.end().catch(() => undefined);
  }
}

function byRole(manifest: BackupManifest, role: StoredObjectEntry['role']): StoredObjectEntry[] {
  return manifest.objects.filter((o) => o.role === role);
}

function what(manifest: BackupManifest, object: StoredObjectEntry): string {
  return `${object.name} of backup ${manifest.id}`;
}

/**
 * Rows, largest objects first, `jobs` at a time; each COPY reports how many rows the server took in. Some tables
 * only: the objects that hold none of them are not read, and the others pass a filter that drops the rest.
 */
async function loadRows(load: Load, selection?: SchemaSelection): Promise<Map<string, number>> {
  const loaded = new Map<string, number>();
  const data = byRole(load.manifest, 'data')
    .filter((o) => !selection || !o.tables?.length || o.tables.some((t) => selection.tables.has(t)))
    .sort((a, b) => b.rawBytes - a.rawBytes);
  await inParallel(data, load.jobs, async (object) => {
    try {
      const consumer = [...(selection ? [copyFilterStep(selection)] : []), psqlStep(load.psql, load.staging, what(load.manifest, object))];
      const counts = copyCounts((await load.unseal(object, consumer, 'collect')).toString('utf8'));
      const tables = (object.tables ?? []).filter((t) => !selection || selection.tables.has(t));
      if (counts.length !== tables.length) {
        throw new PgwardenError('Integrity', `${what(load.manifest, object)} loaded ${counts.length} tables, but the manifest lists ${tables.length} for it: the backup does not match its manifest.`);
      }
      tables.forEach((table, i) => loaded.set(table, (loaded.get(table) ?? 0) + counts[i]!));
    } catch (error) {
      load.abort.abort(error); // stop the other loads: this restore has failed
      throw error;
    }
  });
  return loaded;
}

/**
 * Indexes and constraints: the archive is schema only (small), so it goes to a file that pg_restore can work
 * through with several jobs: indexes of different tables build at the same time.
 */
async function buildIndexes(load: Load): Promise<void> {
  const { pgRestore, staging, options } = load;
  for (const object of byRole(load.manifest, 'post-data')) {
    const archive = await load.unseal(object, [], 'collect');
    const dir = await mkdtemp(join(tmpdir(), 'pgwarden-post-data-'));
    try {
      const file = join(dir, 'post-data.pgdump');
      await writeFile(file, archive, { mode: 0o600 });
      await execa(pgRestore, ['--exit-on-error', '--no-password', `--jobs=${Math.max(1, load.jobs)}`, `--dbname=${staging.database}`, ...restoreFlags(options), file], {
        env: childEnvironment(loadEnv(staging)),
        extendEnv: false,
        ...(load.abort.signal ? { cancelSignal: load.abort.signal } : {}),
      }).catch((error: unknown) => {
        const e = error as { stderr?: unknown; exitCode?: number; isCanceled?: boolean; code?: string };
        if (e.isCanceled) throw new PgwardenError('Failed', `pg_restore for ${what(load.manifest, object)} was cancelled.`, { cause: error, retryable: false });
        if (e.code === 'ENOENT') throw new PgwardenError('Config', `pg_restore is not installed (${pgRestore}): install the PostgreSQL client tools.`, { cause: error });
        throw explainLoadFailure('pg_restore', what(load.manifest, object), typeof e.stderr === 'string' ? e.stderr : String(error), e.exitCode ?? null, options);
      });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
}

/** The SQL pg_restore prints of a schema archive (with the restore's owner and privilege flags). */
async function schemaSql(load: Load, role: 'pre-data' | 'post-data'): Promise<string> {
  let sql = '';
  for (const object of byRole(load.manifest, role)) {
    const step: Step = { command: load.pgRestore, args: ['--file=-', ...restoreFlags(load.options)], label: 'pg_restore' };
    sql += (await load.unseal(object, [step], 'collect')).toString('utf8');
  }
  return sql;
}

/** psql runs it: pg_restore's SQL carries psql's own commands (\\restrict in current releases). */
async function runSql(load: Load, sql: string, what: string): Promise<void> {
  await execa(load.psql, ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '--no-password', `--dbname=${load.staging.database}`], {
    input: sql,
    env: childEnvironment(loadEnv(load.staging)),
    extendEnv: false,
    ...(load.abort.signal ? { cancelSignal: load.abort.signal } : {}),
  }).catch((error: unknown) => {
    const e = error as { stderr?: unknown; code?: string };
    if (e.code === 'ENOENT') throw new PgwardenError('Config', `psql is not installed (${load.psql}): install the PostgreSQL client tools.`, { cause: error });
    const stderr = typeof e.stderr === 'string' ? e.stderr.trim().split('\n').slice(-3).join(' ') : String(error);
    throw new PgwardenError(
      'Failed',
      `Restoring the ${what} of the chosen tables failed: ${stderr}. A table may depend on an object that is not restored with it (a function, another schema's type): restore its schema with --schema, or the whole backup.`,
      { cause: error, retryable: false },
    );
  });
}

/** The chosen tables' schema objects: tables, their sequences, defaults, comments and grants. */
async function loadSelectedSchema(load: Load, tables: string[]): Promise<SchemaSelection> {
  const { sql, selection } = preDataFor(await schemaSql(load, 'pre-data'), tables);
  await runSql(load, sql, 'schema objects');
  return selection;
}

/** Their indexes and constraints; foreign keys to tables not restored are returned, not made. */
async function buildSelectedIndexes(load: Load, selection: SchemaSelection): Promise<string[]> {
  const { sql, leftOut } = postDataFor(await schemaSql(load, 'post-data'), selection);
  await runSql(load, sql, 'indexes and constraints');
  return leftOut;
}

/** Every table of the manifest (or those restored) with the rows it expects and the rows loaded; any difference fails the restore. */
function checkRowCounts(manifest: BackupManifest, loaded: Map<string, number>, only?: string[]): TableCheck[] {
  const checks: TableCheck[] = Object.entries(manifest.tables).filter(([table]) => !only || only.includes(table)).map(([table, expected]) => ({ table, expected, actual: loaded.get(table) ?? -1 }));
  const mismatches = checks.filter((c) => c.expected !== c.actual);
  if (mismatches.length > 0) {
    throw new PgwardenError(
      'Integrity',
      `Restored row counts differ from backup ${manifest.id}'s manifest in ${mismatches.length} table(s): ` +
        mismatches.slice(0, 5).map((m) => `${m.table} expected ${m.expected}, got ${m.actual}`).join('; ') +
        '. The restored copy was discarded; nothing else was changed.',
    );
  }
  return checks;
}

/** Planner statistics, so the restored database is fast from its first query; tables in parallel. */
async function analyze(staging: PgEndpoint, tables: string[], jobs: number): Promise<void> {
  const clients = await Promise.all(Array.from({ length: Math.max(1, jobs) }, () => connect(staging, 'restore analyze')));
  try {
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
}

/** CREATE DATABASE with the source's encoding and collation, falling back to the server's when it lacks them. */
async function createLike(client: pg.Client, name: string, manifest: BackupManifest, provenance: string): Promise<void> {
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
