// Restoring a Supabase backup into a fresh Supabase project: the project's database already exists with the
// platform's schemas (auth, storage, …), so pgwarden loads into it rather than into a new database. It refuses a
// project that holds anything of its own, and loads everything as the project's postgres role (not a superuser) in
// ONE transaction: roles, schema, the data with triggers held off (session_replication_role = replica, as the
// Supabase CLI's data dump does), indexes and constraints, the user's triggers, policies and migration history,
// then checks every table's row count against the manifest before it commits. A failure leaves the project as fresh
// as it was. A drill (supabase-drill.ts) runs the same load and rolls it back.
import { spawn } from 'node:child_process';
import { PgwardenError } from '../../domain/errors.js';
import { databaseView } from '../../config/load.js';
import type { Config } from '../../config/schema.js';
import { backupFolder, readManifest, type BackupManifest, type StoredObjectEntry } from '../catalog/manifest.js';
import { objectSecretOf } from '../keys/backup-keys.js';
import { unsealInto } from '../pipeline/seal.js';
import { pgTool } from '../postgres/binaries.js';
import { withDatabase, type PgEndpoint } from '../postgres/connection.js';
import { toolFailure } from '../postgres/dump.js';
import { loadEnv } from '../postgres/load.js';
import { currentReporter, reportEvery } from '../progress.js';
import { openRepository } from '../storage/open.js';
import type { TableCheck } from '../../domain/restore.js';
import { restoreTarget } from './source.js';
import { NOT_RESTORED } from './supabase.js';
import { checkFreshProject } from './supabase-fresh-check.js';
import { archiveToSql, loadFailure, RESUME_DEFAULT_PRIVILEGES, rowCountChecks, SUSPEND_DEFAULT_PRIVILEGES } from './supabase-load-sql.js';
import { resetSequences, sequencePositions, type SequencePosition } from './supabase-sequences.js';

export interface FreshProjectPlanInput {
  database: string;
  target: string;
  replaceExisting?: string;
  repository: string;
  manifest: BackupManifest;
}

/** Checks the target is a Supabase project with no data of its own, and that its postgres role can take the backup. */
export async function planFreshProjectRestore(config: Config, input: FreshProjectPlanInput) {
  const db = databaseView(config, input.database);
  if (input.replaceExisting !== undefined) {
    throw new PgwardenError('Usage', 'A Supabase backup restores into a fresh project, never over one: --replace-existing does not apply. Create a new project and set restoreConnection to it.');
  }
  const server = await restoreTarget(config, input.database);
  const target = withDatabase(server, input.target);
  await checkFreshProject(config, input.manifest, target);
  return {
    // Recorded here, so that they are in the workflow's history when an attempt dies in the middle of the load.
    sequences: await sequencePositions(target),
    backupId: input.manifest.id,
    repository: input.repository,
    staging: input.target,
    targetExists: true,
    server: server.display,
    tables: Object.keys(input.manifest.tables).length,
    storedBytes: input.manifest.storedBytes,
    mode: 'fresh-project' as const,
    ...(db.rtoMs !== undefined ? { rtoMs: db.rtoMs } : {}),
  };
}

export interface FreshProjectRestoreInput {
  database: string;
  backupId: string;
  repository: string;
  target: string;
  /** --no-owner: no ALTER … OWNER TO, everything belongs to postgres. */
  noOwner?: boolean;
  /** --no-privileges: no GRANT/REVOKE of the backup; objects get the project's default privileges. */
  noPrivileges?: boolean;
  /** The project's sequences as the plan found them: put back after a failed load (the rollback does not). */
  sequences?: SequencePosition[];
}

/** The one-transaction load described at the top of this file, committed. */
export async function restoreIntoFreshProject(
  config: Config,
  input: FreshProjectRestoreInput,
): Promise<{ tables: number; rows: number; mismatchedTables: number; mismatches: TableCheck[]; restoreMs: number; warnings?: string[] }> {
  const target = withDatabase(await restoreTarget(config, input.database), input.target);
  // A failed load rolls back, but not the setval() of the project's own sequences (auth.refresh_tokens_id_seq);
  // an earlier attempt may have died mid-load, so they are put back first too.
  const positions = input.sequences ?? (await sequencePositions(target));
  await resetSequences(target, positions);
  const loaded = await loadIntoFreshProject(config, { ...input, target }, { checks: rowCountChecks, end: 'COMMIT' }).catch(async (error: unknown) => {
    await resetSequences(target, positions).catch(() => undefined);
    throw error;
  });
  // Every count was checked inside the transaction (a difference would have stopped the COMMIT).
  const counts = Object.values(loaded.manifest.tables);
  return {
    tables: counts.length,
    rows: counts.reduce((sum, n) => sum + n, 0),
    mismatchedTables: 0,
    mismatches: [],
    restoreMs: loaded.loadMs,
    ...(loaded.notRestored.length ? { warnings: loaded.notRestored } : {}),
  };
}

export interface FreshProjectLoadInput {
  database: string;
  backupId: string;
  repository: string;
  target: PgEndpoint;
  noOwner?: boolean;
  noPrivileges?: boolean;
}

export interface FreshProjectLoad {
  manifest: BackupManifest;
  /** Lines the checks asked psql to print: they start with "pgwarden-". */
  results: string[];
  /** What the project refused and the load went on without (a membership of a platform role). */
  notRestored: string[];
  loadMs: number;
}

/**
 * Loads a backup into a project in ONE psql session and transaction, then runs `checks` (SQL for the manifest)
 * and ends with COMMIT (a restore) or ROLLBACK (a drill). ON_ERROR_STOP ends the session at the first error and
 * nothing is committed. A statement the project refuses fails the same way every time: that failure is final,
 * names the statement and what helps; a connection that broke may be retried.
 */
export async function loadIntoFreshProject(
  config: Config,
  input: FreshProjectLoadInput,
  finish: { checks: (manifest: BackupManifest) => string; end: 'COMMIT' | 'ROLLBACK' },
): Promise<FreshProjectLoad> {
  const started = Date.now();
  const repo = openRepository(config, input.repository);
  const folder = backupFolder(input.database, 'logical', input.backupId);
  const manifest = await readManifest(repo, folder);
  if (!manifest) throw new PgwardenError('NotFound', `Backup ${input.backupId} of "${input.database}" has no manifest in repository "${input.repository}".`);
  const { secret: passphrase } = await objectSecretOf(config, repo, folder, manifest); // the backup's data key, unwrapped
  const target = input.target;
  const dumpMajor = Math.floor(manifest.server.versionNum / 10_000);
  const psqlPath = await pgTool('psql', dumpMajor, config.postgres.binDir);
  const pgRestore = await pgTool('pg_restore', dumpMajor, config.postgres.binDir);
  const reporter = currentReporter();
  const abort = new AbortController();
  const onCancel = () => abort.abort(reporter.signal?.reason);
  reporter.signal?.addEventListener('abort', onCancel, { once: true });
  let phase = 'starting';
  let done = 0;
  const stopReporting = reportEvery(reporter, () => ({ phase, bytesDone: 0, itemsDone: done, itemsTotal: manifest.objects.length }));

  const session = openPsqlSession(psqlPath, target, abort.signal);
  const { psql, write, goOn, exited, results, notRestored } = session;
  const byRole = (role: StoredObjectEntry['role']) => manifest.objects.filter((o) => o.role === role);
  const unseal = async (object: StoredObjectEntry) => {
    goOn();
    await unsealInto(repo, { key: `${folder}${object.name}`, sha256: object.sha256, storedBytes: object.storedBytes }, passphrase, [], { signal: abort.signal, into: psql.stdin });
    done += 1;
  };
  const schemaSql = async (object: StoredObjectEntry) => {
    goOn();
    const archive = await unsealInto(repo, { key: `${folder}${object.name}`, sha256: object.sha256, storedBytes: object.storedBytes }, passphrase, [], { signal: abort.signal, output: 'collect' });
    done += 1;
    return archiveToSql(pgRestore, archive, input);
  };

  const aborted = exited.then((code) => {
    throw loadFailure(session.stderr(), code, manifest.id, target, input);
  });
  aborted.catch(() => undefined);
  try {
    const load = (async () => {
      await write('BEGIN;\n');
      phase = 'roles';
      for (const object of byRole('roles')) await unseal(object);
      phase = 'schema';
      // --no-privileges: the objects get the project's default privileges, as if made in its SQL editor.
      if (!input.noPrivileges) await write(SUSPEND_DEFAULT_PRIVILEGES);
      for (const object of byRole('pre-data')) await write(await schemaSql(object));
      if (!input.noPrivileges) await write(RESUME_DEFAULT_PRIVILEGES);
      phase = 'data (triggers held off)';
      await write('SET session_replication_role = replica;\n');
      for (const object of byRole('data')) await unseal(object);
      await write('RESET session_replication_role;\n');
      phase = 'indexes, constraints, triggers, policies';
      for (const object of byRole('post-data')) await write(await schemaSql(object));
      for (const object of byRole('extras')) await unseal(object);
      phase = 'checking';
      await write(finish.checks(manifest));
      await write(`${finish.end};\n`);
      psql.stdin.end();
    })();
    load.catch(() => undefined); // when psql stopped first, `aborted` says why
    await Promise.race([load, aborted]);
    const code = await exited;
    if (code !== 0) await aborted;
  } catch (error) {
    psql.kill('SIGKILL'); // the open transaction dies with the session: nothing of this load stays
    abort.abort(error);
    if (error === session.stoppedError) await aborted; // psql's own exit says why
    throw error instanceof PgwardenError ? error : toolFailure('psql', `backup ${manifest.id}`, error);
  } finally {
    stopReporting();
    reporter.signal?.removeEventListener('abort', onCancel);
  }
  return { manifest, results, notRestored, loadMs: Date.now() - started };
}

/**
 * The load's psql session: what it prints for the checks, what the project refused, its stderr's tail, and a write
 * that refuses once psql has stopped (a backup object unsealed into a dead psql would never finish).
 */
function openPsqlSession(psqlPath: string, target: PgEndpoint, signal: AbortSignal) {
  // -b: psql echoes the statement that failed; -A -t: the checks' rows come out one a line.
  const psql = spawn(psqlPath, ['-X', '-q', '-A', '-t', '-b', '-v', 'ON_ERROR_STOP=1', '--no-password', `--dbname=${target.database}`], {
    env: { ...process.env, ...loadEnv(target) },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stderr = '';
  const results: string[] = [];
  const notRestored: string[] = [];
  lines(psql.stdout, (line) => {
    if (line.startsWith('pgwarden-') && results.length < 100_000) results.push(line);
  });
  lines(psql.stderr, (line) => {
    stderr = `${stderr}${line}\n`.slice(-16_384);
    const refused = new RegExp(`WARNING:\\s+${NOT_RESTORED}(.+ not restored: .*)$`).exec(line);
    if (refused && notRestored.length < 50) notRestored.push(refused[1]!);
  });
  let stopped = false;
  const exited = new Promise<number | null>((resolve) => psql.once('close', (code) => resolve(code)));
  void exited.then(() => (stopped = true));
  psql.stdin.on('error', () => undefined); // psql stopped at an error: reported through its exit
  const stoppedError = new PgwardenError('Failed', 'psql stopped: the load does not go on.');
  const goOn = () => {
    if (stopped || signal.aborted) throw stoppedError;
  };
  const write = (text: string) => {
    goOn();
    return new Promise<void>((resolve) => {
      if (psql.stdin.write(text)) return resolve();
      psql.stdin.once('drain', resolve);
      void exited.then(() => resolve());
    });
  };
  return { psql, write, goOn, exited, results, notRestored, stoppedError, stderr: () => stderr };
}

/** Calls `each` with every whole line of a stream. */
function lines(stream: NodeJS.ReadableStream, each: (line: string) => void): void {
  let partial = '';
  stream.on('data', (chunk: Buffer) => {
    const text = partial + chunk.toString('utf8');
    const parts = text.split('\n');
    partial = parts.pop()!.slice(-65_536);
    for (const line of parts) each(line);
  });
  stream.on('end', () => partial && each(partial));
}

