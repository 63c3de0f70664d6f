// Before anything is loaded into a Supabase project: it must be a fresh project that can take the backup.
import { PgwardenError } from '../../domain/errors.js';
import type { Config } from '../../config/schema.js';
import type { BackupManifest } from '../catalog/manifest.js';
import { pgTool } from '../postgres/binaries.js';
import { connect, type PgEndpoint } from '../postgres/connection.js';
import { serverInfo } from '../postgres/inventory.js';
import { matchesPattern, SUPABASE_MANAGED_SCHEMAS } from './supabase.js';

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
