// Restoring a Supabase backup into a fresh Supabase project: the project's database already exists with the
// platform's schemas (auth, storage, …), so pgwarden loads into it rather than into a new database. It refuses a
// project that holds anything of its own, and loads everything as the project's postgres role (not a superuser) in
// ONE transaction: roles, schema, the data with triggers held off (session_replication_role = replica, as the
// Supabase CLI's data dump does), indexes and constraints, the user's triggers, policies and migration history,
// then checks every table's row count against the manifest before it commits. A failure leaves the project as fresh
// as it was. A drill (supabase-drill.ts) runs the same load and rolls it back.
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { PgwardenError } from '../../domain/errors.js';
import { databaseView } from '../../config/load.js';
import type { Config } from '../../config/schema.js';
import { backupFolder, readManifest, type BackupManifest, type StoredObjectEntry } from '../catalog/manifest.js';
import { objectSecretOf } from '../keys/backup-keys.js';
import { unsealInto } from '../pipeline/seal.js';
import { pgTool } from '../postgres/binaries.js';
import { connect, withDatabase, type PgEndpoint } from '../postgres/connection.js';
import { toolFailure } from '../postgres/dump.js';
import { explainLoadFailure, loadEnv } from '../postgres/load.js';
import { serverInfo } from '../postgres/inventory.js';
import { currentReporter, reportEvery } from '../progress.js';
import { openRepository } from '../storage/open.js';
import type { TableCheck } from '../../domain/restore.js';
import { restoreTarget } from './source.js';
import { matchesPattern, NOT_RESTORED, SUPABASE_MANAGED_SCHEMAS, SUPABASE_RESERVED_ROLES } from './supabase.js';

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

/**
 * What must hold before anything is loaded into a project (a restore, or a drill that rolls back): it is a Supabase
 * project's database, as new a PostgreSQL as the backup's, holding nothing of its own, able to take the backup's
 * extensions. Refused otherwise (exit code 5), with nothing changed.
 */
export async function checkFreshProject(config: Config, manifest: BackupManifest, target: PgEndpoint): Promise<void> {
  const client = await connect(target, 'restore check').catch((error: unknown) => {
    if (error instanceof PgwardenError && error.kind === 'NotFound') {
      throw new PgwardenError(
        'Refused',
        `${target.display} has no database "${target.database}". A Supabase backup restores into the database of a fresh Supabase project (its platform schemas must exist): --into postgres, with restoreConnection pointing at the new project.`,
      );
    }
    throw error;
  });
  try {
    const shape = await client.query<{ auth: boolean; storage: boolean }>(
      `SELECT to_regclass('auth.users') IS NOT NULL AS auth, to_regclass('storage.objects') IS NOT NULL AS storage`,
    );
    if (!shape.rows[0]!.auth || !shape.rows[0]!.storage) {
      throw new PgwardenError('Refused', `"${target.database}" on ${target.display} is not a Supabase project's database (no auth.users or storage.objects): restore a Supabase backup into a fresh Supabase project.`);
    }
    const major = (await serverInfo(client)).major;
    const dumpMajor = Math.floor(manifest.server.versionNum / 10_000);
    if (major < dumpMajor) {
      throw new PgwardenError('Refused', `Backup ${manifest.id} comes from PostgreSQL ${manifest.server.version}; the project at ${target.display} runs ${major}: create the project with PostgreSQL ${dumpMajor} or newer.`);
    }
    await pgTool('pg_restore', Math.max(major, dumpMajor), config.postgres.binDir);
    await checkFresh(client, target.database, target.display);
    await checkExtensions(client, manifest, target.display);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * A fresh project has nothing of the user's: no schema, table, view, sequence, type or function outside the
 * platform's schemas (other than an extension's), no migration history, no users, buckets or objects. Any of them
 * would make a statement of the backup fail (CREATE TYPE public.mood: already exists), or be merged into.
 */
async function checkFresh(client: import('pg').Client, database: string, display: string): Promise<void> {
  const notExtensions = (catalog: string, oid: string) => `NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = '${catalog}'::regclass AND d.objid = ${oid} AND d.deptype = 'e')`;
  const { rows } = await client.query<{ kind: string; name: string; schema: string }>(
    `SELECT CASE c.relkind WHEN 'S' THEN 'sequences' WHEN 'v' THEN 'views' WHEN 'm' THEN 'views' WHEN 'c' THEN 'types' ELSE 'tables' END AS kind,
            quote_ident(n.nspname) || '.' || quote_ident(c.relname) AS name, n.nspname AS schema
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S', 'c') AND ${notExtensions('pg_class', 'c.oid')}
     UNION ALL
     SELECT 'types', quote_ident(n.nspname) || '.' || quote_ident(t.typname), n.nspname
       FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
      WHERE t.typtype IN ('b', 'd', 'e', 'r') AND t.typcategory <> 'A' AND ${notExtensions('pg_type', 't.oid')}
     UNION ALL
     SELECT CASE p.prokind WHEN 'p' THEN 'procedures' WHEN 'a' THEN 'aggregates' ELSE 'functions' END,
            quote_ident(n.nspname) || '.' || quote_ident(p.proname) || '(' || pg_get_function_identity_arguments(p.oid) || ')', n.nspname
       FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
      WHERE ${notExtensions('pg_proc', 'p.oid')}
     UNION ALL
     SELECT 'schemas', quote_ident(n.nspname), n.nspname FROM pg_namespace n WHERE n.nspname <> 'public' AND ${notExtensions('pg_namespace', 'n.oid')}
     ORDER BY 1, 2`,
  );
  const own = new Map<string, string[]>();
  for (const r of rows) {
    if (r.schema.startsWith('pg_') || matchesPattern(r.schema, SUPABASE_MANAGED_SCHEMAS)) continue;
    own.set(r.kind, [...(own.get(r.kind) ?? []), r.name]);
  }
  const counts = await client.query<{ users: string; buckets: string; objects: string; history: boolean }>(
    `SELECT (SELECT count(*) FROM auth.users) AS users, (SELECT count(*) FROM storage.buckets) AS buckets, (SELECT count(*) FROM storage.objects) AS objects,
            to_regclass('supabase_migrations.schema_migrations') IS NOT NULL AS history`,
  );
  const c = { ...counts.rows[0]!, history: '0' };
  if (counts.rows[0]!.history) c.history = (await client.query<{ n: string }>('SELECT count(*) AS n FROM supabase_migrations.schema_migrations')).rows[0]!.n;
  const found = [
    ...['tables', 'views', 'sequences', 'types', 'functions', 'procedures', 'aggregates', 'schemas']
      .filter((kind) => own.has(kind))
      .map((kind) => {
        const names = own.get(kind)!;
        return `${kind === 'tables' ? 'tables of its own' : kind} (${names.slice(0, 5).join(', ')}${names.length > 5 ? `, … ${names.length} in all` : ''})`;
      }),
    Number(c.history) && `${c.history} migrations in its history (supabase_migrations.schema_migrations)`,
    Number(c.users) && `${c.users} auth users`,
    Number(c.buckets) && `${c.buckets} storage buckets`,
    Number(c.objects) && `${c.objects} storage objects`,
  ].filter(Boolean);
  if (found.length) {
    throw new PgwardenError(
      'Refused',
      `"${database}" on ${display} is not a fresh project: it has ${found.join(', ')}. ` +
        'Nothing was changed. Restoring over a project would merge into or destroy its data, or fail on what it already has: create a new Supabase project and restore into it.',
    );
  }
}

/**
 * Extensions the backup had that the project lacks must be creatable by its postgres role: trusted ones, or those
 * the platform's supautils lets it create; others must be enabled in the dashboard first.
 */
async function checkExtensions(client: import('pg').Client, manifest: BackupManifest, display: string): Promise<void> {
  const wanted = manifest.extensions ?? [];
  if (wanted.length === 0) return;
  const { rows } = await client.query<{ name: string; installed: boolean; available: boolean; trusted: boolean; superuser: boolean; privileged: string | null }>(
    `SELECT w.name, EXISTS (SELECT 1 FROM pg_extension e WHERE e.extname = w.name) AS installed,
            EXISTS (SELECT 1 FROM pg_available_extensions a WHERE a.name = w.name) AS available,
            coalesce((SELECT bool_or(v.trusted) FROM pg_available_extension_versions v WHERE v.name = w.name), false) AS trusted,
            (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) AS superuser,
            current_setting('supautils.privileged_extensions', true) AS privileged
       FROM unnest($1::text[]) AS w(name)`,
    [wanted.map((e) => e.name)],
  );
  const missing = rows.filter((r) => !r.installed && !r.available).map((r) => r.name);
  const blocked = rows
    .filter((r) => !r.installed && r.available && !r.trusted && !r.superuser && !(r.privileged ?? '').split(',').map((s) => s.trim()).includes(r.name))
    .map((r) => r.name);
  if (missing.length || blocked.length) {
    throw new PgwardenError(
      'Refused',
      `The project at ${display} cannot take backup ${manifest.id}'s extensions as it is: ` +
        [missing.length && `not available there: ${missing.join(', ')}`, blocked.length && `only the platform may create: ${blocked.join(', ')} (enable them in the dashboard: Database → Extensions)`].filter(Boolean).join('; ') +
        '. Nothing was changed; restore again once they are enabled.',
    );
  }
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

/** Where a sequence of the project stood before a load: last_value as text (bigint), is_called. */
export interface SequencePosition {
  name: string; // schema-qualified, quoted as needed
  lastValue: string;
  isCalled: boolean;
}

/** The positions of every sequence of the project that postgres can read and set (the only ones a load can move). */
export async function sequencePositions(endpoint: PgEndpoint): Promise<SequencePosition[]> {
  const client = await connect(endpoint, 'sequence positions');
  try {
    const { rows } = await client.query<{ name: string }>(
      `SELECT format('%I.%I', n.nspname, c.relname) AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind = 'S' AND has_table_privilege(c.oid, 'SELECT') AND has_table_privilege(c.oid, 'UPDATE') ORDER BY 1`,
    );
    const positions: SequencePosition[] = [];
    for (const { name } of rows) {
      const at = (await client.query<{ v: string; c: boolean }>(`SELECT last_value::text AS v, is_called AS c FROM ${name}`)).rows[0]!;
      positions.push({ name, lastValue: at.v, isCalled: at.c });
    }
    return positions;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Puts sequences back where the plan found them; those already there are left alone. Safe to repeat. */
export async function resetSequences(endpoint: PgEndpoint, positions: SequencePosition[]): Promise<string[]> {
  const client = await connect(endpoint, 'sequence positions');
  const reset: string[] = [];
  try {
    for (const p of positions) {
      if (!(await client.query<{ r: string | null }>('SELECT to_regclass($1)::text AS r', [p.name])).rows[0]!.r) continue;
      const now = (await client.query<{ v: string; c: boolean }>(`SELECT last_value::text AS v, is_called AS c FROM ${p.name}`)).rows[0]!;
      if (now.v === p.lastValue && now.c === p.isCalled) continue;
      await client.query('SELECT setval($1::regclass, $2::bigint, $3)', [p.name, p.lastValue, p.isCalled]);
      reset.push(p.name);
    }
    return reset;
  } finally {
    await client.end().catch(() => undefined);
  }
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
  // Once psql has stopped, no further step starts: a backup object unsealed into a dead psql would never finish.
  const psqlStopped = new PgwardenError('Failed', 'psql stopped: the load does not go on.');
  const goOn = () => {
    if (stopped || abort.signal.aborted) throw psqlStopped;
  };
  const write = (text: string) => {
    goOn();
    return new Promise<void>((resolve) => {
      if (psql.stdin.write(text)) return resolve();
      psql.stdin.once('drain', resolve);
      void exited.then(() => resolve());
    });
  };
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
    throw loadFailure(stderr, code, manifest.id, target, input);
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
    if (error === psqlStopped) await aborted; // psql's own exit says why
    throw error instanceof PgwardenError ? error : toolFailure('psql', `backup ${manifest.id}`, error);
  } finally {
    stopReporting();
    reporter.signal?.removeEventListener('abort', onCancel);
  }
  return { manifest, results, notRestored, loadMs: Date.now() - started };
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

/**
 * Why psql stopped. A broken connection or a killed psql may be retried; a statement the project refused will be
 * refused again, so the failure is final and says which statement it was and what would get past it.
 */
function loadFailure(stderr: string, code: number | null, backupId: string, target: PgEndpoint, options: { noOwner?: boolean; noPrivileges?: boolean }): PgwardenError {
  const tail = stderr.trim().split('\n').slice(-6).join('\n  ');
  const general = explainLoadFailure('psql', `backup ${backupId} into "${target.database}"`, stderr, code);
  if (general.retryable) return new PgwardenError('Failed', `psql stopped loading backup ${backupId} into "${target.database}" (exit ${code}); nothing was committed:\n  ${tail}`);
  // psql's report of the error: ERROR, then DETAIL/HINT/CONTEXT, then (-b) STATEMENT and the statement's lines.
  const all = stderr.split('\n').map((l) => l.replace(/^psql:\S*:\d+: /, ''));
  let errorAt = all.length - 1;
  while (errorAt > 0 && !/^ERROR:\s/.test(all[errorAt]!)) errorAt -= 1;
  const report = all.slice(Math.max(errorAt, 0));
  const error = report[0]!.replace(/^ERROR:\s+/, '');
  const details = report.slice(1).filter((l) => /^(DETAIL|HINT|CONTEXT):/.test(l));
  const statementAt = report.findIndex((l) => /^STATEMENT:/.test(l));
  const statement = statementAt < 0 ? '' : report.slice(statementAt).join('\n').replace(/^STATEMENT:\s+/, '').trim();
  if (error.startsWith('pgwarden: ')) return new PgwardenError('Integrity', error.slice('pgwarden: '.length), { retryable: false }); // a check of ours
  const shown = statement.length > 600 ? `${statement.slice(0, 600)} …` : statement;
  return new PgwardenError(
    'Failed',
    `The project at ${target.display} refused a statement of backup ${backupId}: ${error}\n` +
      (details.length ? `  ${details.slice(0, 3).join('\n  ')}\n` : '') +
      (shown ? `  statement: ${shown.split('\n').join('\n    ')}\n` : '') +
      `${supabaseLoadHint(error, statement, options)} Nothing was committed, and the restore was not retried: the same statement would be refused again.`,
    { retryable: false },
  );
}

/** What gets a refused statement through, in a Supabase project. */
function supabaseLoadHint(error: string, statement: string, options: { noOwner?: boolean; noPrivileges?: boolean }): string {
  const role = /role "([^"]+)" does not exist/.exec(error)?.[1];
  if (/\bOWNER TO\b/.test(statement) && !options.noOwner) {
    return 'The backup gives this object an owner that the project\'s postgres role cannot give it there (only a superuser can, in the order pg_dump writes): restore with --no-owner, and everything belongs to postgres.';
  }
  if (/^(GRANT|REVOKE)\b/.test(statement) && !options.noPrivileges) {
    return `The project's postgres role may not set this privilege${role ? ` (role "${role}" does not exist there)` : ''}: restore with --no-privileges (objects then get the project's default privileges), or make it possible in the project first.`;
  }
  if (role) return `Create role "${role}" in the project first (the SQL editor runs as postgres), then restore again.`;
  if (/already exists/.test(error)) return 'The project already has this object: restore into a new project in which nothing was made yet.';
  if (/extension/i.test(error)) return 'Enable the extension in the project first (dashboard: Database → Extensions), then restore again.';
  if (/permission denied|must be owner|must be member|must have admin option/.test(error)) {
    return 'The project\'s postgres role lacks a privilege this statement needs: grant it in the project (to postgres; on what the platform owns, ask Supabase support), then restore again.';
  }
  return 'The project refused this statement as it is: change the project (or the backup\'s source) so that it is accepted, then restore again.';
}

/**
 * A schema archive (custom format) as SQL a non-superuser may run in the project: without what the platform owns
 * or what only a superuser may do, as the Supabase CLI's dump_schema.sh leaves them out: event triggers, the
 * realtime publication itself (its tables are kept: the user put them in it), comments on extensions, default
 * privileges and ownership of the platform's roles, and privileges on objects that the platform or an extension
 * owns (GRANT … ON FUNCTION extensions.armor(bytea) TO postgres WITH GRANT OPTION: the new project grants its own).
 */
async function archiveToSql(pgRestore: string, archive: Buffer, options: { noOwner?: boolean; noPrivileges?: boolean }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'pgwarden-supabase-'));
  try {
    const file = join(dir, 'schema.pgdump');
    await writeFile(file, archive, { mode: 0o600 });
    const toc = (await execa(pgRestore, ['-l', file])).stdout;
    const kept = toc.split('\n').filter((line) => line.startsWith(';') || line.trim() === '' || keepTocEntry(line));
    const list = join(dir, 'schema.list');
    await writeFile(list, kept.join('\n'));
    const flags = [...(options.noOwner ? ['--no-owner'] : []), ...(options.noPrivileges ? ['--no-privileges'] : [])];
    const sql = (await execa(pgRestore, ['-L', list, ...flags, '-f', '-', file], { maxBuffer: 512 * 1024 * 1024 })).stdout;
    return `${sql
      .split('\n')
      .map((line) => {
        const owner = /^ALTER .+ OWNER TO "?([^";]+)"?;$/.exec(line);
        return owner && owner[1] !== 'postgres' && matchesPattern(owner[1]!, SUPABASE_RESERVED_ROLES) ? `-- pgwarden: the platform's: ${line}` : line;
      })
      .join('\n')}\n`;
  } catch (error) {
    throw toolFailure('pg_restore (schema to SQL)', 'the backup', error);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Whether an entry of pg_restore -l ("<id>; <oid> <oid> <type> <schema> <name…> <owner>") is the user's to restore. */
export function keepTocEntry(line: string): boolean {
  if (/ PUBLICATION TABLE /.test(line)) return / PUBLICATION TABLE \S+ supabase_realtime /.test(line);
  if (/ (EVENT TRIGGER|PUBLICATION|PUBLICATION TABLES IN SCHEMA|COMMENT - EXTENSION) /.test(line)) return false;
  if (/ DEFAULT ACL /.test(line)) return !reservedOwner(line);
  const acl = /^\d+; \d+ \d+ ACL (\S+) /.exec(line);
  if (acl) return !reservedOwner(line) && (acl[1] === '-' || !matchesPattern(acl[1]!, SUPABASE_MANAGED_SCHEMAS));
  return true;
}

function reservedOwner(tocLine: string): boolean {
  const owner = tocLine.trim().split(/\s+/).at(-1) ?? '';
  return owner !== 'postgres' && matchesPattern(owner, SUPABASE_RESERVED_ROLES);
}

/**
 * A project's postgres role has default privileges (GRANT ALL ON TABLES TO anon, authenticated, service_role): every
 * table the restore creates would get them, and pg_dump's GRANTs only add to an object's privileges, so a privilege
 * the user had revoked (REVOKE DELETE ON todos FROM anon) would come back. They are set aside while the schema
 * loads (every object then gets exactly the grants of the backup) and put back afterwards, in the same transaction.
 */
const SUSPEND_DEFAULT_PRIVILEGES = `
CREATE TEMP TABLE pgwarden_default_acl ON COMMIT DROP AS
  SELECT d.defaclnamespace::regnamespace::text AS schema, d.defaclobjtype AS objtype, a.grantee, a.privilege_type, a.is_grantable
    FROM pg_default_acl d CROSS JOIN LATERAL aclexplode(d.defaclacl) a
   WHERE d.defaclrole = current_user::regrole AND a.grantee <> d.defaclrole;
DO $pgwarden$ DECLARE r record; BEGIN
  FOR r IN SELECT DISTINCT schema, objtype, grantee FROM pgwarden_default_acl LOOP
    EXECUTE format('ALTER DEFAULT PRIVILEGES FOR ROLE %I %s REVOKE ALL ON %s FROM %s', current_user,
      CASE WHEN r.schema = '-' THEN '' ELSE format('IN SCHEMA %I', r.schema) END,
      CASE r.objtype WHEN 'r' THEN 'TABLES' WHEN 'S' THEN 'SEQUENCES' WHEN 'f' THEN 'FUNCTIONS' WHEN 'T' THEN 'TYPES' ELSE 'SCHEMAS' END,
      CASE WHEN r.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(r.grantee::regrole::text) END);
  END LOOP;
END $pgwarden$;
`;

const RESUME_DEFAULT_PRIVILEGES = `
DO $pgwarden$ DECLARE r record; BEGIN
  FOR r IN SELECT * FROM pgwarden_default_acl LOOP
    EXECUTE format('ALTER DEFAULT PRIVILEGES FOR ROLE %I %s GRANT %s ON %s TO %s%s', current_user,
      CASE WHEN r.schema = '-' THEN '' ELSE format('IN SCHEMA %I', r.schema) END, r.privilege_type,
      CASE r.objtype WHEN 'r' THEN 'TABLES' WHEN 'S' THEN 'SEQUENCES' WHEN 'f' THEN 'FUNCTIONS' WHEN 'T' THEN 'TYPES' ELSE 'SCHEMAS' END,
      CASE WHEN r.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(r.grantee::regrole::text) END,
      CASE WHEN r.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END);
  END LOOP;
END $pgwarden$;
`;

/** Inside the transaction, before COMMIT: every table holds exactly the rows the manifest counted, or nothing commits. */
export function rowCountChecks(manifest: BackupManifest): string {
  const literal = (text: string) => `'${text.replace(/'/g, "''")}'`;
  const lines = Object.entries(manifest.tables).map(
    ([table, expected]) =>
      `DO $pgwarden$ DECLARE n bigint; BEGIN SELECT count(*) INTO n FROM ONLY ${table}; IF n <> ${expected} THEN RAISE EXCEPTION 'pgwarden: % holds % rows, backup ${manifest.id} counted ${expected}: nothing was committed', ${literal(table)}, n; END IF; END $pgwarden$;`,
  );
  return `${lines.join('\n')}\n`;
}

