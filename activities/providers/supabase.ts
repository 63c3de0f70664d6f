// Supabase: what a backup takes from a project and what it leaves to the platform, following the Supabase CLI's
// own dump scripts (supabase/cli pkg/migration/dump.go): the platform's schemas and roles are recreated by every
// new project, so the schema dump leaves them out; their user data (auth.users, storage.objects, …) is dumped,
// the platform's migration bookkeeping is not. Roles are the user's own, without passwords.
import { Transform, type TransformCallback } from 'node:stream';
import type pg from 'pg';
import { PgwardenError } from '../../domain/errors.js';
import type { SupabaseSettings } from '../../config/schema.js';
import type { PgEndpoint } from '../postgres/connection.js';

/**
 * Schemas whose definitions the platform owns (created by the supabase/postgres image or by extensions): a fresh
 * project has them, so the schema dump excludes them (the CLI's InternalSchemas).
 */
export const SUPABASE_MANAGED_SCHEMAS = [
  'information_schema',
  'pg_*',
  '_analytics',
  '_realtime',
  '_supavisor',
  'auth',
  'etl',
  'extensions',
  'pgbouncer',
  'realtime',
  'storage',
  'supabase_functions',
  'supabase_migrations',
  // owned by extensions
  'cron',
  'dbdev',
  'graphql',
  'graphql_public',
  'net',
  'pgmq',
  'pgsodium',
  'pgsodium_masks',
  'pgtle',
  'repack',
  'tiger',
  'tiger_data',
  'timescaledb_*',
  '_timescaledb_*',
  'topology',
  'vault',
];

/**
 * Schemas whose data is left out too. auth, storage, supabase_functions, cron, net and pgmq are NOT in it: their
 * rows are the user's (users, identities, buckets, object metadata, hooks, jobs, queues), as in the CLI's data dump.
 */
export const SUPABASE_DATA_EXCLUDED_SCHEMAS = [
  'information_schema',
  'pg_*',
  'graphql',
  'graphql_public',
  'pgsodium',
  'pgsodium_masks',
  'pgtle',
  'repack',
  'tiger',
  'tiger_data',
  'timescaledb_*',
  '_timescaledb_*',
  'topology',
  'vault',
  'etl',
  'extensions',
  'pgbouncer',
  'realtime',
  'supabase_migrations',
  '_analytics',
  '_realtime',
  '_supavisor',
];

/** The platform's migration bookkeeping: a new project has its own, at its own version. */
export const SUPABASE_DATA_EXCLUDED_TABLES = ['auth.schema_migrations', 'storage.migrations', 'supabase_functions.migrations'];

/** Roles the platform creates and manages (supautils blocks changing them): never dumped, never restored. */
export const SUPABASE_RESERVED_ROLES = [
  'anon',
  'authenticated',
  'authenticator',
  'cli_login_*',
  'dashboard_user',
  'pgbouncer',
  'postgres',
  'service_role',
  'supabase_*',
  'pgsodium_keyholder',
  'pgsodium_keyiduser',
  'pgsodium_keymaker',
  'pgtle_admin',
];

/** Role settings a project's postgres role may still set on reserved roles (supautils' allowed list). */
const ALLOWED_ROLE_SETTINGS = [/^pgaudit\./, /^pgrst\./, /^session_replication_role$/, /^statement_timeout$/, /^track_io_timing$/];

/** Managed schemas whose user-made triggers and policies (on auth.users, storage.objects) pgwarden carries over. */
export const SUPABASE_USER_DATA_SCHEMAS = ['auth', 'storage'];

/** What a logical dump covers: everything (plain PostgreSQL, Neon), or a Supabase project's user part. */
export interface DumpScope {
  provider: 'supabase';
  /** Schemas left out of pre-data and post-data. */
  schemaExcludes: string[];
  /** Schemas whose rows are left out. */
  dataExcludes: string[];
  /** Tables whose rows are left out. */
  dataExcludeTables: string[];
}

export const SUPABASE_SCOPE: DumpScope = {
  provider: 'supabase',
  schemaExcludes: SUPABASE_MANAGED_SCHEMAS,
  dataExcludes: SUPABASE_DATA_EXCLUDED_SCHEMAS,
  dataExcludeTables: SUPABASE_DATA_EXCLUDED_TABLES,
};

/** pg_dump's patterns (* and ?) as a test on a name. */
export function matchesPattern(name: string, patterns: string[]): boolean {
  return patterns.some((p) => new RegExp(`^${p.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`).test(name));
}

/**
 * A transaction-mode pooler (Supavisor or PgBouncer on port 6543) hands each transaction to another server
 * connection: a dump's exported snapshot, its session settings and a restore's session_replication_role would
 * not survive. The direct connection or the session pooler (port 5432) keep one server connection per client.
 */
export function checkSupabaseConnection(endpoint: PgEndpoint, settings: SupabaseSettings | undefined, database: string, key = 'connection'): void {
  const url = new URL(endpoint.url);
  const port = url.port || '5432';
  if (port === '6543' || /[?&]pgbouncer=true/.test(url.search)) {
    throw new PgwardenError(
      'Config',
      `databases.${database}.${key} points at Supabase's transaction-mode pooler (${url.hostname}:${port}): it gives every transaction another server connection, ` +
        'so a consistent dump (one exported snapshot shared by several connections) and a restore with triggers held off cannot work through it. ' +
        'Use the direct connection (db.<ref>.supabase.co:5432) or the session pooler (<region>.pooler.supabase.com:5432).',
    );
  }
  const ref = settings?.projectRef;
  if (ref) {
    const user = decodeURIComponent(url.username);
    const belongs = url.hostname === `db.${ref}.supabase.co` || user.endsWith(`.${ref}`);
    if (!belongs) {
      throw new PgwardenError(
        'Config',
        `databases.${database}.${key} (${url.hostname}, user ${user}) is not Supabase project ${ref}: expected host db.${ref}.supabase.co or pooler user postgres.${ref}. ` +
          'Fix the connection or supabase.projectRef.',
      );
    }
  }
}

/**
 * pg_dumpall --roles-only output, reduced to what a fresh project accepts from its (non-superuser) postgres role:
 * reserved roles are left alone (the CLI's dump_role.sh does the same), GRANTED BY clauses go, CREATE ROLE
 * tolerates a role that exists, and attributes only a superuser may set are dropped (a comment says which).
 * Memberships between the platform's own roles are the new project's; one that joins a user's role and a platform
 * role (GRANT app_reader TO authenticator) is tried, and one the project refuses is reported, not fatal.
 */
export function filterSupabaseRoles(sql: string): string {
  const reserved = (name: string) => matchesPattern(name, SUPABASE_RESERVED_ROLES);
  const out: string[] = ['-- Roles of the Supabase project (pgwarden: the platform\'s own roles left out, no passwords)', ''];
  for (const line of sql.split('\n')) {
    let m = /^CREATE ROLE "?([^";]+)"?;$/.exec(line);
    if (m) {
      if (reserved(m[1]!)) continue;
      out.push(`DO $pgwarden$ BEGIN CREATE ROLE ${quote(m[1]!)}; EXCEPTION WHEN duplicate_object THEN NULL; END $pgwarden$;`);
      continue;
    }
    m = /^ALTER ROLE "?([^" ]+)"? WITH (.*);$/.exec(line);
    if (m) {
      if (reserved(m[1]!)) continue;
      const words = m[2]!.split(/\s+/);
      const superOnly = words.filter((w) => ['SUPERUSER', 'REPLICATION', 'BYPASSRLS'].includes(w));
      const kept = words.filter((w) => !['SUPERUSER', 'REPLICATION', 'BYPASSRLS', 'NOSUPERUSER', 'NOREPLICATION', 'NOBYPASSRLS'].includes(w));
      if (superOnly.length) out.push(`-- pgwarden: ${m[1]} had ${superOnly.join(', ')}, which only a superuser may give: not restored`);
      if (kept.length) out.push(`ALTER ROLE ${quote(m[1]!)} WITH ${kept.join(' ')};`);
      continue;
    }
    m = /^ALTER ROLE "?([^" ]+)"? (?:IN DATABASE \S+ )?SET "?([^" ]+)"? /.exec(line);
    if (m) {
      if (reserved(m[1]!) && !ALLOWED_ROLE_SETTINGS.some((r) => r.test(m![2]!))) continue;
      out.push(line);
      continue;
    }
    m = /^GRANT (.+) TO "?([^" ]+)"?(.*);$/.exec(line);
    if (m) {
      const member = m[2]!;
      const granted = m[1]!.split(',').map((r) => r.trim().replace(/^"|"$/g, ''));
      if (granted.some((r) => r === 'pg_read_server_files' || r === 'pg_write_server_files' || r === 'pg_execute_server_program')) continue;
      const platform = (name: string) => reserved(name) || name.startsWith('pg_');
      if (platform(member) && granted.every(platform)) continue;
      const grant = `GRANT ${m[1]} TO ${quote(member)}${m[3]!.replace(/\s*GRANTED BY\s+\S+/i, '')};`;
      if (!reserved(member) && !granted.some(reserved)) {
        out.push(grant);
        continue;
      }
      // The project decides what its postgres role may grant on its own roles (and which of them exist).
      const what = `membership of ${member} in ${granted.join(', ')}`.replace(/'/g, "''");
      out.push(`DO $pgwarden$ BEGIN ${grant} EXCEPTION WHEN OTHERS THEN RAISE WARNING '${NOT_RESTORED}${what} not restored: %', SQLERRM; END $pgwarden$;`);
      continue;
    }
    if (/^(SET |--|$)/.test(line)) continue;
    out.push(`-- pgwarden: left out: ${line}`);
  }
  return `${out.join('\n')}\n`;
}

/** The start of a warning the load reports back as not restored (activities/providers/supabase-restore.ts). */
export const NOT_RESTORED = 'pgwarden: ';

function quote(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** Collects a small stream (pg_dumpall's output) and passes it on filtered. */
export class WholeTextFilter extends Transform {
  private readonly chunks: Buffer[] = [];
  constructor(private readonly rewrite: (text: string) => string) {
    super();
  }
  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.chunks.push(chunk);
    callback();
  }
  override _flush(callback: TransformCallback): void {
    try {
      this.push(Buffer.from(this.rewrite(Buffer.concat(this.chunks).toString('utf8'))));
      callback();
    } catch (error) {
      callback(error as Error);
    }
  }
}

/**
 * SQL for what the user made on the platform's own tables, which the schema dump leaves out with their schemas:
 * triggers on auth/storage tables that call the user's functions (on_auth_user_created), and row-level security
 * policies on them (storage.objects). Read in the backup's snapshot; replayed after the data.
 */
export async function managedTableExtras(client: pg.Client): Promise<string> {
  // Definitions come out schema-qualified only with an empty search_path (EXECUTE FUNCTION public.handle_new_user()).
  const previous = (await client.query<{ p: string }>(`SELECT current_setting('search_path') AS p`)).rows[0]!.p;
  await client.query(`SELECT set_config('search_path', '', true)`);
  try {
    return await extrasSql(client);
  } finally {
    await client.query(`SELECT set_config('search_path', $1, true)`, [previous]);
  }
}

async function extrasSql(client: pg.Client): Promise<string> {
  const triggers = await client.query<{ def: string; name: string; tbl: string }>(
    `SELECT pg_get_triggerdef(t.oid) AS def, quote_ident(t.tgname) AS name, quote_ident(n.nspname) || '.' || quote_ident(c.relname) AS tbl
       FROM pg_trigger t
       JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
       JOIN pg_proc p ON p.oid = t.tgfoid JOIN pg_namespace pn ON pn.oid = p.pronamespace
      WHERE NOT t.tgisinternal AND n.nspname = ANY($1) AND pn.nspname <> ALL($2)
      ORDER BY 3, 2`,
    [SUPABASE_USER_DATA_SCHEMAS, SUPABASE_MANAGED_SCHEMAS.filter((s) => !s.includes('*'))],
  );
  const policies = await client.query<{ sql: string }>(
    `SELECT format('DROP POLICY IF EXISTS %I ON %I.%I;', p.policyname, p.schemaname, p.tablename) || E'\\n' ||
            format('CREATE POLICY %I ON %I.%I AS %s FOR %s TO %s', p.policyname, p.schemaname, p.tablename, p.permissive, p.cmd,
                   (SELECT string_agg(CASE WHEN r = 'public' THEN 'PUBLIC' ELSE quote_ident(r) END, ', ') FROM unnest(p.roles) r)) ||
            coalesce(' USING (' || p.qual || ')', '') || coalesce(' WITH CHECK (' || p.with_check || ')', '') || ';' AS sql
       FROM pg_policies p
      WHERE p.schemaname = ANY($1) AND p.policyname NOT LIKE 'cron_job_%'
      ORDER BY p.schemaname, p.tablename, p.policyname`,
    [SUPABASE_USER_DATA_SCHEMAS],
  );
  const lines = ['-- pgwarden: what the project\'s user made on the platform\'s tables (triggers, row-level security policies)', ''];
  for (const t of triggers.rows) lines.push(`DROP TRIGGER IF EXISTS ${t.name} ON ${t.tbl};`, `${t.def};`);
  for (const p of policies.rows) lines.push(p.sql);
  lines.push(...(await migrationHistorySql(client)));
  return `${lines.join('\n')}\n`;
}

/**
 * The user's migration history: the Supabase CLI keeps it in supabase_migrations (schema_migrations, seed_files),
 * creating the tables itself as postgres on its first push, so a new project has none. Without it `supabase db
 * push` would run every migration again. Restored as the CLI makes it: the tables created if missing (with the
 * columns the backup's have), the rows inserted, their number checked before the restore commits.
 */
async function migrationHistorySql(client: pg.Client): Promise<string[]> {
  const { rows } = await client.query<{ tbl: string; columns: string; adds: string; key: string | null }>(
    `SELECT format('%I.%I', n.nspname, c.relname) AS tbl,
            (SELECT string_agg(format('%I %s%s', a.attname, format_type(a.atttypid, a.atttypmod), CASE WHEN a.attnotnull THEN ' NOT NULL' ELSE '' END), ', ' ORDER BY a.attnum)
               FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped) AS columns,
            (SELECT string_agg(format('ALTER TABLE %I.%I ADD COLUMN IF NOT EXISTS %I %s;', n.nspname, c.relname, a.attname, format_type(a.atttypid, a.atttypmod)), E'\n' ORDER BY a.attnum)
               FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped) AS adds,
            (SELECT format(', PRIMARY KEY (%s)', string_agg(quote_ident(a.attname), ', ' ORDER BY k.ord))
               FROM pg_index i CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord) JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum
              WHERE i.indrelid = c.oid AND i.indisprimary) AS key
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = 'supabase_migrations' AND c.relkind = 'r' AND has_table_privilege(c.oid, 'SELECT')
      ORDER BY c.relname`,
  );
  if (rows.length === 0) return [];
  const lines = ['', '-- pgwarden: the migration history of the Supabase CLI (supabase_migrations)', 'CREATE SCHEMA IF NOT EXISTS supabase_migrations;'];
  for (const t of rows) {
    const data = await client.query<{ data: string | null; n: string }>(`SELECT json_agg(t)::text AS data, count(*)::text AS n FROM ${t.tbl} t`);
    const { data: json, n } = data.rows[0]!;
    lines.push(`CREATE TABLE IF NOT EXISTS ${t.tbl} (${t.columns}${t.key ?? ''});`, t.adds);
    if (json) lines.push(`INSERT INTO ${t.tbl} SELECT * FROM json_populate_recordset(NULL::${t.tbl}, ${literal(json)});`);
    lines.push(
      `DO $pgwarden$ DECLARE n bigint; BEGIN SELECT count(*) INTO n FROM ${t.tbl}; IF n <> ${Number(n)} THEN ` +
        `RAISE EXCEPTION 'pgwarden: ${t.tbl.replace(/'/g, "''")} holds % rows after the restore, the backup has ${Number(n)}: nothing was committed', n; END IF; END $pgwarden$;`,
    );
  }
  return lines;
}

/** A SQL string literal (standard_conforming_strings is on in every supported server). */
function literal(text: string): string {
  return `'${text.replace(/'/g, "''")}'`;
}
