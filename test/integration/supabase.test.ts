// Supabase without Docker: a project's user part backed up (roles, user schemas, data of every schema including
// auth users and storage metadata, not the platform's bookkeeping) and restored into a fresh project as its
// non-superuser postgres role. Both projects are local clusters prepared like Supabase's (test/harness/supabase.ts).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { backupFolder, readManifest } from '../../activities/catalog/manifest.js';
import { openRepository } from '../../activities/storage/open.js';
import { startBackup, startRestore } from '../../client/api.js';
import { asPgwardenError, waitFor } from '../../client/watch.js';
import type { PgwardenError } from '../../domain/errors.js';
import type { Config, ConfigInput } from '../../config/schema.js';
import type { BackupResult } from '../../domain/backup.js';
import type { RestoreResult } from '../../domain/restore.js';
import { secretEnv, testConfig } from '../harness/config.js';
import { startStack, type Stack } from '../harness/stack.js';
import { startSupabaseProject, type SupabaseProject } from '../harness/supabase.js';

let stack: Stack;
let source: SupabaseProject;
let fresh: SupabaseProject;
let config: Config;

/** User data that must come back exactly: the user's tables and the user rows in the platform's tables. */
const USER_TABLES = ['public.profiles', 'public.todos', 'private.notes', 'auth.users', 'auth.identities', 'storage.buckets', 'storage.objects'];

function supabaseConfig(connection: string, restore?: string): ConfigInput {
  const base = stack.configInput({});
  return {
    ...base,
    databases: {
      app: {
        provider: 'supabase',
        connection: { env: secretEnv(connection, 'PGWARDEN_TEST_SUPABASE_URL') },
        ...(restore ? { restoreConnection: { env: secretEnv(restore, 'PGWARDEN_TEST_SUPABASE_RESTORE_URL') } } : {}),
        repositories: ['s3'],
      },
    },
  };
}

async function all<T extends pg.QueryResultRow>(url: string, sql: string): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(sql)).rows;
  } finally {
    await client.end();
  }
}

/** Rows of a table, as text in a stable order (read as the platform's superuser: no RLS in the way). */
const contents = (url: string, table: string) => all<{ r: string }>(url, `SELECT t::text AS r FROM ONLY ${table} t ORDER BY 1`).then((rows) => rows.map((row) => row.r));
const policies = (url: string) =>
  all(url, `SELECT schemaname, tablename, policyname, permissive, roles::text, cmd, qual, with_check FROM pg_policies WHERE schemaname IN ('public', 'private', 'storage', 'auth') ORDER BY 1, 2, 3`);
const grants = (url: string) =>
  all(url, `SELECT table_schema, table_name, grantee, privilege_type FROM information_schema.role_table_grants
             WHERE grantee IN ('anon', 'authenticated', 'service_role', 'app_reporter') AND table_schema IN ('public', 'private') ORDER BY 1, 2, 3, 4`);

before(async () => {
  [stack, source, fresh] = await Promise.all([startStack(), startSupabaseProject({ withUserData: true }), startSupabaseProject({ withUserData: false })]);
  config = testConfig(supabaseConfig(source.url, fresh.url));
  await stack.worker(config);
});

after(async () => {
  await stack?.stop();
  await Promise.all([source?.stop(), fresh?.stop()]);
});

describe('a Supabase project', () => {
  let backup: BackupResult;

  test('is backed up without Docker: roles, user schemas, all user data, not the platform\'s schemas or bookkeeping', async () => {
    backup = await waitFor<BackupResult>(await startBackup(stack.env.client, config, { database: 'app', kind: 'manual' }));
    const manifest = (await readManifest(openRepository(config, 's3'), backupFolder('app', 'logical', backup.backupId)))!;
    assert.equal(manifest.provider?.name, 'supabase');
    for (const table of USER_TABLES) assert.ok(table in manifest.tables, `${table} is backed up`);
    assert.equal(manifest.tables['auth.users'], 3);
    assert.equal(manifest.tables['public.profiles'], 3);
    for (const table of ['auth.schema_migrations', 'storage.migrations', 'supabase_migrations.schema_migrations', 'realtime.subscription', 'vault.secrets']) {
      assert.ok(!(table in manifest.tables), `${table} is the platform's: left out`);
    }
    assert.deepEqual(manifest.objects.filter((o) => o.role === 'roles' || o.role === 'extras').map((o) => o.name), ['roles.sql.zst.gpg', 'extras.sql.zst.gpg']);
    assert.ok(manifest.extensions?.some((e) => e.name === 'pg_trgm'));
  });

  test('restores into a fresh project as its postgres role: identical user data and auth users, policies, grants, trigger, roles', async () => {
    const restored = await waitFor<RestoreResult>(await startRestore(stack.env.client, config, { database: 'app', backup: backup.backupId, target: 'postgres' }));
    assert.equal(restored.rowCountsMatch, true);
    for (const table of USER_TABLES) assert.deepEqual(await contents(fresh.adminUrl, table), await contents(source.adminUrl, table), `${table} is identical`);
    // Triggers were held off while loading: the renamed profile stays renamed, no profile was made twice.
    assert.deepEqual(await contents(fresh.adminUrl, 'public.profiles'), await contents(source.adminUrl, 'public.profiles'));
    assert.deepEqual(await policies(fresh.adminUrl), await policies(source.adminUrl), 'row-level security policies, including the one on storage.objects');
    assert.deepEqual(await grants(fresh.adminUrl), await grants(source.adminUrl), 'grants to anon, authenticated and the user\'s role');
    const trigger = await all(fresh.adminUrl, `SELECT tgname FROM pg_trigger WHERE tgrelid = 'auth.users'::regclass AND NOT tgisinternal`);
    assert.deepEqual(trigger.map((t) => t.tgname), ['on_auth_user_created']);
    const role = await all<{ rolconfig: string[] | null }>(fresh.adminUrl, `SELECT rolconfig FROM pg_roles WHERE rolname = 'app_reporter'`);
    assert.deepEqual(role[0]?.rolconfig, ['statement_timeout=30s']);
    assert.deepEqual(await all(fresh.adminUrl, 'SELECT count(*)::int AS n FROM vault.secrets'), [{ n: 0 }], 'the vault stays the platform\'s');
    assert.deepEqual(await contents(fresh.adminUrl, 'auth.schema_migrations'), await contents(source.adminUrl, 'auth.schema_migrations'), 'the platform\'s own bookkeeping untouched');

    // The new project works like the old one: a new sign-up fires the restored trigger.
    await fresh.query(`INSERT INTO auth.users (id, email, raw_user_meta_data, created_at) VALUES ('00000000-0000-4000-8000-000000000009', 'new@test.cartly.app', '{"username": "newcomer"}', now())`);
    assert.deepEqual(await all(fresh.adminUrl, `SELECT username FROM public.profiles WHERE id = '00000000-0000-4000-8000-000000000009'`), [{ username: 'newcomer' }]);
  });

  test('refuses a project that is not fresh, and changes nothing', async () => {
    const before = await contents(fresh.adminUrl, 'public.todos');
    await assert.rejects(waitFor(await startRestore(stack.env.client, config, { database: 'app', backup: backup.backupId, target: 'postgres' })), (error: unknown) => {
      const failure = asPgwardenError(error) as PgwardenError;
      assert.equal(failure.kind, 'Refused');
      assert.match(failure.message, /not a fresh project: it has tables of its own \(.*public\.todos/);
      return true;
    });
    assert.deepEqual(await contents(fresh.adminUrl, 'public.todos'), before);
  });

  test('refuses a transaction-mode pooler (port 6543) and says why', async () => {
    const pooled = testConfig(supabaseConfig(source.url.replace(/:\d+\//, ':6543/')));
    await stack.worker(pooled);
    await assert.rejects(waitFor(await startBackup(stack.env.client, pooled, { database: 'app', kind: 'manual' })), (error: unknown) => {
      const failure = asPgwardenError(error) as PgwardenError;
      assert.equal(failure.kind, 'Config');
      assert.match(failure.message, /transaction-mode pooler .*session pooler/);
      return true;
    });
  });
});
