// Restoring a Supabase backup into a fresh Supabase project: the project's database already exists with the
// platform's schemas (auth, storage, …), so pgwarden loads into it rather than into a new database. It refuses a
// project that holds data of its own, and loads everything as the project's postgres role (not a superuser) in ONE
// transaction: roles, schema, the data with triggers held off (session_replication_role = replica, as the Supabase
// CLI's data dump does), indexes and constraints, the user's triggers and policies on platform tables, then checks
// every table's row count against the manifest before it commits. A failure leaves the project as fresh as it was.
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
import { connect, libpqEnv, withDatabase } from '../postgres/connection.js';
import { toolFailure } from '../postgres/dump.js';
import { serverInfo } from '../postgres/inventory.js';
import { currentReporter, reportEvery } from '../progress.js';
import { openRepository } from '../storage/open.js';
import type { TableCheck } from '../../domain/restore.js';
import { restoreTarget } from './source.js';
import { matchesPattern, SUPABASE_MANAGED_SCHEMAS, SUPABASE_RESERVED_ROLES } from './supabase.js';

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
  const client = await connect(target, 'restore check').catch((error: unknown) => {
    if (error instanceof PgwardenError && error.kind === 'NotFound') {
      throw new PgwardenError(
        'Refused',
        `${server.display} has no database "${input.target}". A Supabase backup restores into the database of a fresh Supabase project (its platform schemas must exist): --into postgres, with restoreConnection pointing at the new project.`,
      );
    }
    throw error;
  });
  try {
    const shape = await client.query<{ auth: boolean; storage: boolean }>(
      `SELECT to_regclass('auth.users') IS NOT NULL AS auth, to_regclass('storage.objects') IS NOT NULL AS storage`,
    );
    if (!shape.rows[0]!.auth || !shape.rows[0]!.storage) {
      throw new PgwardenError('Refused', `"${input.target}" on ${server.display} is not a Supabase project's database (no auth.users or storage.objects): restore a Supabase backup into a fresh Supabase project.`);
    }
    const major = (await serverInfo(client)).major;
    const dumpMajor = Math.floor(input.manifest.server.versionNum / 10_000);
    if (major < dumpMajor) {
      throw new PgwardenError('Refused', `Backup ${input.manifest.id} comes from PostgreSQL ${input.manifest.server.version}; the project at ${server.display} runs ${major}: create the project with PostgreSQL ${dumpMajor} or newer.`);
    }
    await pgTool('pg_restore', Math.max(major, dumpMajor), config.postgres.binDir);
    await checkFresh(client, input.target, server.display);
    await checkExtensions(client, input.manifest, server.display);
    return {
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
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** A fresh project has no tables outside the platform's schemas and no users, buckets or objects. */
async function checkFresh(client: import('pg').Client, database: string, display: string): Promise<void> {
  const { rows } = await client.query<{ name: string; schema: string }>(
    `SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname) AS name, n.nspname AS schema
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND n.nspname NOT LIKE 'pg\\_%'
        AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')`,
  );
  const own = rows.filter((r) => !matchesPattern(r.schema, SUPABASE_MANAGED_SCHEMAS)).map((r) => r.name);
  const counts = await client.query<{ users: string; buckets: string; objects: string }>(
    'SELECT (SELECT count(*) FROM auth.users) AS users, (SELECT count(*) FROM storage.buckets) AS buckets, (SELECT count(*) FROM storage.objects) AS objects',
  );
  const c = counts.rows[0]!;
  const data = [Number(c.users) && `${c.users} auth users`, Number(c.buckets) && `${c.buckets} storage buckets`, Number(c.objects) && `${c.objects} storage objects`].filter(Boolean);
  if (own.length || data.length) {
    throw new PgwardenError(
      'Refused',
      `"${database}" on ${display} is not a fresh project: it has ${[...(own.length ? [`tables of its own (${own.slice(0, 5).join(', ')}${own.length > 5 ? ', …' : ''})`] : []), ...data].join(', ')}. ` +
        'Nothing was changed. Restoring over a project would merge into or destroy its data: create a new Supabase project and restore into it.',
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
}

/** The one-transaction load described at the top of this file. */
export async function restoreIntoFreshProject(config: Config, input: FreshProjectRestoreInput): Promise<{ tables: number; rows: number; mismatchedTables: number; mismatches: TableCheck[]; restoreMs: number }> {
  const started = Date.now();
  const repo = openRepository(config, input.repository);
  const folder = backupFolder(input.database, 'logical', input.backupId);
  const manifest = await readManifest(repo, folder);
  if (!manifest) throw new PgwardenError('NotFound', `Backup ${input.backupId} of "${input.database}" has no manifest in repository "${input.repository}".`);
  const { secret: passphrase } = await objectSecretOf(config, repo, folder, manifest); // the backup's data key, unwrapped
  const target = withDatabase(await restoreTarget(config, input.database), input.target);
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

  // One psql session, one transaction: ON_ERROR_STOP ends it at the first error and nothing is committed.
  const psql = spawn(psqlPath, ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '--no-password', `--dbname=${target.database}`], {
    env: { ...process.env, ...libpqEnv(target) },
    stdio: ['pipe', 'ignore', 'pipe'],
  });
  let stderr = '';
  psql.stderr.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString('utf8')).slice(-8_192)));
  const exited = new Promise<number | null>((resolve) => psql.once('close', (code) => resolve(code)));
  psql.stdin.on('error', () => undefined); // psql stopped at an error: reported through its exit
  const write = (text: string) => new Promise<void>((resolve) => (psql.stdin.write(text) ? resolve() : psql.stdin.once('drain', resolve)));
  const byRole = (role: StoredObjectEntry['role']) => manifest.objects.filter((o) => o.role === role);
  const unseal = (object: StoredObjectEntry) =>
    unsealInto(repo, { key: `${folder}${object.name}`, sha256: object.sha256, storedBytes: object.storedBytes }, passphrase, [], { signal: abort.signal, into: psql.stdin }).then(() => {
      done += 1;
    });
  const schemaSql = async (object: StoredObjectEntry) => {
    const archive = await unsealInto(repo, { key: `${folder}${object.name}`, sha256: object.sha256, storedBytes: object.storedBytes }, passphrase, [], { signal: abort.signal, output: 'collect' });
    done += 1;
    return archiveToSql(pgRestore, archive);
  };

  try {
    const aborted = exited.then((code) => {
      throw new PgwardenError('Failed', `psql stopped loading backup ${manifest.id} into "${input.target}" (exit ${code}); nothing was committed:\n  ${stderr.trim().split('\n').slice(-6).join('\n  ')}`);
    });
    aborted.catch(() => undefined);
    const load = (async () => {
      await write('BEGIN;\n');
      phase = 'roles';
      for (const object of byRole('roles')) await unseal(object);
      phase = 'schema';
      await write(SUSPEND_DEFAULT_PRIVILEGES);
      for (const object of byRole('pre-data')) await write(await schemaSql(object));
      await write(RESUME_DEFAULT_PRIVILEGES);
      phase = 'data (triggers held off)';
      await write('SET session_replication_role = replica;\n');
      for (const object of byRole('data')) await unseal(object);
      await write('RESET session_replication_role;\n');
      phase = 'indexes, constraints, triggers, policies';
      for (const object of byRole('post-data')) await write(await schemaSql(object));
      for (const object of byRole('extras')) await unseal(object);
      phase = 'checking row counts';
      await write(rowCountChecks(manifest));
      await write('COMMIT;\n');
      psql.stdin.end();
    })();
    await Promise.race([load, aborted]);
    const code = await exited;
    if (code !== 0) await aborted;
  } catch (error) {
    psql.kill('SIGKILL'); // the open transaction dies with the session: nothing of this restore stays
    abort.abort(error);
    throw error instanceof PgwardenError ? error : toolFailure('psql', `backup ${manifest.id}`, error);
  } finally {
    stopReporting();
    reporter.signal?.removeEventListener('abort', onCancel);
  }
  // Every count was checked inside the transaction (a difference would have stopped the COMMIT).
  const counts = Object.values(manifest.tables);
  return { tables: counts.length, rows: counts.reduce((sum, n) => sum + n, 0), mismatchedTables: 0, mismatches: [], restoreMs: Date.now() - started };
}

/**
 * A schema archive (custom format) as SQL a non-superuser may run in the project: without what the platform owns
 * or what only a superuser may do (event triggers, the realtime publication, comments on extensions, default
 * privileges and ownership of the platform's roles), as the Supabase CLI's dump_schema.sh leaves them out.
 */
async function archiveToSql(pgRestore: string, archive: Buffer): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'pgwarden-supabase-'));
  try {
    const file = join(dir, 'schema.pgdump');
    await writeFile(file, archive, { mode: 0o600 });
    const toc = (await execa(pgRestore, ['-l', file])).stdout;
    const kept = toc.split('\n').filter((line) => {
      if (line.startsWith(';') || line.trim() === '') return true;
      return !/ (EVENT TRIGGER|PUBLICATION|PUBLICATION TABLE|COMMENT - EXTENSION) /.test(line) && !(/ DEFAULT ACL /.test(line) && reservedOwner(line));
    });
    const list = join(dir, 'schema.list');
    await writeFile(list, kept.join('\n'));
    const sql = (await execa(pgRestore, ['-L', list, '-f', '-', file], { maxBuffer: 512 * 1024 * 1024 })).stdout;
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
function rowCountChecks(manifest: BackupManifest): string {
  const literal = (text: string) => `'${text.replace(/'/g, "''")}'`;
  const lines = Object.entries(manifest.tables).map(
    ([table, expected]) =>
      `DO $pgwarden$ DECLARE n bigint; BEGIN SELECT count(*) INTO n FROM ONLY ${table}; IF n <> ${expected} THEN RAISE EXCEPTION 'pgwarden: % holds % rows, backup ${manifest.id} counted ${expected}: nothing was committed', ${literal(table)}, n; END IF; END $pgwarden$;`,
  );
  return `${lines.join('\n')}\n`;
}

