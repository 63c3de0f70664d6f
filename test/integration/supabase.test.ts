// Supabase without Docker: a project's user part backed up (roles, user schemas, data of every schema including
// auth users and storage metadata, the user's migration history, not the platform's bookkeeping), drilled and
// restored into a fresh project as its non-superuser postgres role. The projects are local clusters prepared as
// strictly as Supabase's (test/harness/supabase.ts).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { backupFolder, readManifest } from '../../activities/catalog/manifest.js';
import { openRepository } from '../../activities/storage/open.js';
import { startBackup, startDrill, startRestore } from '../../client/api.js';
import { asPgwardenError, waitFor } from '../../client/watch.js';
import type { PgwardenError } from '../../domain/errors.js';
import type { Config, ConfigInput } from '../../config/schema.js';
import type { BackupResult } from '../../domain/backup.js';
import type { RestoreInput, RestoreResult } from '../../domain/restore.js';
import type { DrillResult } from '../../domain/verify.js';
import { secretEnv, testConfig } from '../harness/config.js';
import { startStack, type Stack } from '../harness/stack.js';
import { startSupabaseProject, type SupabaseProject } from '../harness/supabase.js';

let stack: Stack;
let source: SupabaseProject;
let fresh: SupabaseProject;
/** A second fresh project, for a restore with --no-owner --no-privileges. */
let bare: SupabaseProject;
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
        drill: {
          assertions: [
            { table: 'public.todos', minRows: 40 },
            { name: 'todos per user as in production', sql: 'SELECT user_id, count(*) FROM public.todos GROUP BY user_id', equalsSource: true },
            { name: 'migration history as in production', sql: 'SELECT version, name FROM supabase_migrations.schema_migrations', equalsSource: true },
          ],
        },
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

/**
 * What a fresh project holds that a restore or a drill could change: its relations, types, functions, roles and
 * memberships, publication tables, migration history and sequence positions. Read as the platform's superuser.
 */
async function projectState(project: SupabaseProject): Promise<unknown> {
  const objects = await all(
    project.adminUrl,
    `SELECT 'relation' AS k, c.oid::regclass::text AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname NOT LIKE 'pg\\_%' AND n.nspname <> 'information_schema'
     UNION ALL SELECT 'type', t.oid::regtype::text FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace WHERE n.nspname = 'public'
     UNION ALL SELECT 'function', p.oid::regprocedure::text FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname NOT LIKE 'pg\\_%' AND n.nspname <> 'information_schema'
     UNION ALL SELECT 'role', rolname FROM pg_roles
     UNION ALL SELECT 'member', m.member::regrole::text || ' in ' || m.roleid::regrole::text FROM pg_auth_members m
     UNION ALL SELECT 'publication table', pubname || ' ' || schemaname || '.' || tablename FROM pg_publication_tables
     UNION ALL SELECT 'acl', p.oid::regprocedure::text || ' ' || p.proacl::text FROM pg_proc p WHERE p.pronamespace = 'extensions'::regnamespace
     ORDER BY 1, 2`,
  );
  const sequences = await all<{ name: string }>(project.adminUrl, `SELECT c.oid::regclass::text AS name FROM pg_class c WHERE c.relkind = 'S' ORDER BY 1`);
  const positions = [];
  for (const { name } of sequences) positions.push({ name, ...(await all(project.adminUrl, `SELECT last_value::text, is_called FROM ${name}`))[0] });
  return { objects, positions };
}

/** The attempts Temporal made of each activity of a workflow run. */
async function activityAttempts(workflowId: string): Promise<Record<string, number>> {
  const history = await stack.env.client.workflow.getHandle(workflowId).fetchHistory();
  const types = new Map<string, string>();
  const attempts: Record<string, number> = {};
  for (const event of history.events ?? []) {
    const scheduled = event.activityTaskScheduledEventAttributes;
    if (scheduled) types.set(String(event.eventId), scheduled.activityType?.name ?? '?');
    const started = event.activityTaskStartedEventAttributes;
    if (started) attempts[types.get(String(started.scheduledEventId))!] = started.attempt ?? 1;
  }
  return attempts;
}

/** A restore that must be refused or fail: its failure, and its workflow id. */
async function failedRestore(cfg: Config, input: RestoreInput): Promise<{ failure: PgwardenError; workflowId: string }> {
  const handle = await startRestore(stack.env.client, cfg, input);
  const failure = await waitFor(handle).then(
    () => assert.fail('the restore was expected to fail'),
    (error: unknown) => asPgwardenError(error) as PgwardenError,
  );
  return { failure, workflowId: handle.workflowId };
}

before(async () => {
  // Each part assigned as it comes up: a part that fails to start must not leave the others running.
  const started = await Promise.allSettled([
    startStack().then((s) => (stack = s)),
    // An older project: it still has pgsodium's roles, which a project made today lacks.
    startSupabaseProject({ withUserData: true, legacyRoles: true }).then((p) => (source = p)),
    startSupabaseProject({ withUserData: false }).then((p) => (fresh = p)),
    startSupabaseProject({ withUserData: false }).then((p) => (bare = p)),
  ]);
  for (const part of started) if (part.status === 'rejected') throw part.reason;
  config = testConfig(supabaseConfig(source.url, fresh.url));
  await stack.worker(config);
});

after(async () => {
  await stack?.stop();
  await Promise.all([source?.stop(), fresh?.stop(), bare?.stop()]);
});

describe('a Supabase project', () => {
  let backup: BackupResult;
  let restored: RestoreResult;
  let freshState: unknown;

  test('is backed up without Docker: roles, user schemas, all user data, not the platform\'s schemas or bookkeeping', async () => {
    backup = await waitFor<BackupResult>(await startBackup(stack.env.client, config, { database: 'app', kind: 'manual' }));
    const manifest = (await readManifest(openRepository(config, 's3'), backupFolder('app', 'logical', backup.backupId)))!;
    assert.equal(manifest.provider?.name, 'supabase');
    for (const table of USER_TABLES) assert.ok(table in manifest.tables, `${table} is backed up`);
    assert.equal(manifest.tables['auth.users'], 3);
    assert.equal(manifest.tables['public.profiles'], 3);
    for (const table of ['auth.schema_migrations', 'storage.migrations', 'realtime.subscription', 'vault.secrets']) {
      assert.ok(!(table in manifest.tables), `${table} is the platform's: left out`);
    }
    assert.deepEqual(manifest.objects.filter((o) => o.role === 'roles' || o.role === 'extras').map((o) => o.name), ['roles.sql.zst.gpg', 'extras.sql.zst.gpg']);
    assert.ok(manifest.extensions?.some((e) => e.name === 'pg_trgm'));
    freshState = await projectState(fresh);
  });

  test('is drilled in a fresh project with the restore\'s configuration, which stays exactly as fresh (tables, roles, sequence positions)', async () => {
    const drill = await waitFor<DrillResult>(await startDrill(stack.env.client, config, { database: 'app' }));
    assert.equal(drill.passed, true, drill.failures.join('; '));
    const part = drill.parts[0]!;
    assert.equal(part.rowCountsMatch, true);
    assert.equal(part.tables, Object.keys((await readManifest(openRepository(config, 's3'), backupFolder('app', 'logical', backup.backupId)))!.tables).length);
    assert.deepEqual(part.assertions.map((a) => [a.name, a.passed]), [
      ['public.todos has at least 40 row(s)', true],
      ['todos per user as in production', true],
      ['migration history as in production', true],
    ]);
    assert.equal(part.cleanedUp, true);
    assert.deepEqual(await projectState(fresh), freshState, 'the project is as fresh as before the drill');
  });

  test('refuses a target with types, functions, views or sequences of its own before loading (exit 5), naming them, and changes nothing', async () => {
    for (const [make, named, undo] of [
      [`CREATE TYPE public.mood AS ENUM ('meh')`, 'public.mood', 'DROP TYPE public.mood'],
      [`CREATE FUNCTION public.handle_new_user() RETURNS int LANGUAGE sql AS 'SELECT 1'`, 'public.handle_new_user()', 'DROP FUNCTION public.handle_new_user()'],
      [`CREATE VIEW public.todo_view AS SELECT 1 AS one`, 'public.todo_view', 'DROP VIEW public.todo_view'],
      [`CREATE SEQUENCE public.audit_log_id_seq`, 'public.audit_log_id_seq', 'DROP SEQUENCE public.audit_log_id_seq'],
    ] as const) {
      await fresh.query(make);
      const made = await projectState(fresh);
      const { failure } = await failedRestore(config, { database: 'app', backup: backup.backupId, target: 'postgres' });
      assert.equal(failure.kind, 'Refused', failure.message);
      assert.ok(failure.message.includes(named), `names ${named}: ${failure.message}`);
      assert.match(failure.message, /Nothing was changed/);
      assert.deepEqual(await projectState(fresh), made);
      await fresh.query(undo);
    }
    assert.deepEqual(await projectState(fresh), freshState);
  });

  test('fails at once on a statement the project refuses, naming the statement and the fix, and leaves the project fresh', async () => {
    await all(fresh.adminUrl, 'REVOKE TRIGGER ON auth.users FROM postgres');
    try {
      const { failure, workflowId } = await failedRestore(config, { database: 'app', backup: backup.backupId, target: 'postgres' });
      assert.equal(failure.kind, 'Failed');
      assert.match(failure.message, /permission denied for table users/);
      assert.match(failure.message, /CREATE TRIGGER on_auth_user_created/, 'the statement');
      assert.match(failure.message, /not retried/);
      assert.match(failure.message, /grant|privilege/i, 'what to change');
      assert.equal((await activityAttempts(workflowId)).restoreIntoFreshProject, 1, 'not retried');
    } finally {
      await all(fresh.adminUrl, 'GRANT TRIGGER ON auth.users TO postgres');
    }
    assert.deepEqual(await projectState(fresh), freshState);
  });

  test('restores into a fresh project as its postgres role: identical user data and auth users, policies, grants, trigger, roles', async () => {
    const platformAcls = await all(fresh.adminUrl, `SELECT p.oid::regprocedure::text AS f, p.proacl::text AS acl FROM pg_proc p WHERE p.pronamespace = 'extensions'::regnamespace ORDER BY 1`);
    restored = await waitFor<RestoreResult>(await startRestore(stack.env.client, config, { database: 'app', backup: backup.backupId, target: 'postgres' }));
    assert.equal(restored.rowCountsMatch, true);
    for (const table of [...USER_TABLES, 'public.audit_log']) assert.deepEqual(await contents(fresh.adminUrl, table), await contents(source.adminUrl, table), `${table} is identical`);
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
    // Privileges on what the platform and its extensions own are the new project's own (pg_dump had their GRANTs).
    const after = await all(fresh.adminUrl, `SELECT p.oid::regprocedure::text AS f, p.proacl::text AS acl FROM pg_proc p WHERE p.pronamespace = 'extensions'::regnamespace ORDER BY 1`);
    assert.deepEqual(after.filter((a) => platformAcls.some((p) => p.f === a.f)), platformAcls);

    // The new project works like the old one: a new sign-up fires the restored trigger.
    await fresh.query(`INSERT INTO auth.users (id, email, raw_user_meta_data, created_at) VALUES ('00000000-0000-4000-8000-000000000009', 'new@test.cartly.app', '{"username": "newcomer"}', now())`);
    assert.deepEqual(await all(fresh.adminUrl, `SELECT username FROM public.profiles WHERE id = '00000000-0000-4000-8000-000000000009'`), [{ username: 'newcomer' }]);
  });

  test('keeps the user\'s tables in the realtime publication', async () => {
    const published = (url: string) => all(url, `SELECT schemaname, tablename FROM pg_publication_tables WHERE pubname = 'supabase_realtime' ORDER BY 1, 2`);
    assert.deepEqual(await published(source.adminUrl), [{ schemaname: 'public', tablename: 'todos' }]);
    assert.deepEqual(await published(fresh.adminUrl), await published(source.adminUrl));
  });

  test('restores the migration history of the Supabase CLI, so `supabase db push` does not run the migrations again', async () => {
    for (const table of ['supabase_migrations.schema_migrations', 'supabase_migrations.seed_files']) {
      assert.deepEqual(await contents(fresh.adminUrl, table), await contents(source.adminUrl, table), `${table} is identical`);
      assert.equal((await contents(fresh.adminUrl, table)).length > 0, true);
    }
    // The CLI's next push reads and writes it as postgres.
    await fresh.query(`INSERT INTO supabase_migrations.schema_migrations (version, name, statements) VALUES ('20261201000000', 'next', ARRAY['select 1'])`);
  });

  test('restores memberships granted to platform roles where postgres may, and lists those it could not', async () => {
    const members = (url: string) =>
      all(url, `SELECT m.roleid::regrole::text AS role, m.member::regrole::text AS member FROM pg_auth_members m WHERE m.roleid::regrole::text IN ('app_reader', 'app_owner', 'pgsodium_keyholder') ORDER BY 1, 2`);
    assert.deepEqual(await members(source.adminUrl), [
      { role: 'app_owner', member: 'postgres' },
      { role: 'app_reader', member: 'authenticator' },
      { role: 'pgsodium_keyholder', member: 'app_reporter' },
    ]);
    assert.deepEqual(await members(fresh.adminUrl), [
      { role: 'app_owner', member: 'postgres' },
      { role: 'app_reader', member: 'authenticator' },
    ]);
    const warnings = restored.warnings ?? [];
    assert.equal(warnings.filter((w) => /not restored/.test(w)).length, 1, warnings.join('\n'));
    assert.match(warnings.join('\n'), /membership of app_reporter in pgsodium_keyholder not restored: role "pgsodium_keyholder" does not exist/);
  });

  test('refuses a project that is not fresh, and changes nothing', async () => {
    const before = await contents(fresh.adminUrl, 'public.todos');
    const { failure } = await failedRestore(config, { database: 'app', backup: backup.backupId, target: 'postgres' });
    assert.equal(failure.kind, 'Refused');
    assert.match(failure.message, /not a fresh project: it has .*public\.todos/);
    assert.deepEqual(await contents(fresh.adminUrl, 'public.todos'), before);
  });

  test('applies --no-owner and --no-privileges: objects belong to postgres, the project\'s default privileges apply', async () => {
    // A table owned by one of the app's roles: pg_dump sets its owner before the schema's privileges let that role
    // own anything there, which only a superuser gets past; --no-owner is the way, and the failure says so.
    await source.query(`GRANT USAGE, CREATE ON SCHEMA private TO app_owner; CREATE TABLE private.ledger (id int PRIMARY KEY); ALTER TABLE private.ledger OWNER TO app_owner; INSERT INTO private.ledger VALUES (1), (2)`);
    const bareConfig = testConfig(supabaseConfig(source.url, bare.url));
    await stack.worker(bareConfig);
    const second = await waitFor<BackupResult>(await startBackup(stack.env.client, bareConfig, { database: 'app', kind: 'manual' }));
    const { failure, workflowId } = await failedRestore(bareConfig, { database: 'app', backup: second.backupId, target: 'postgres' });
    assert.equal(failure.kind, 'Failed');
    assert.match(failure.message, /ALTER TABLE private\.ledger OWNER TO app_owner/);
    assert.match(failure.message, /--no-owner/);
    assert.equal((await activityAttempts(workflowId)).restoreIntoFreshProject, 1, 'not retried');

    const result = await waitFor<RestoreResult>(
      await startRestore(stack.env.client, bareConfig, { database: 'app', backup: second.backupId, target: 'postgres', noOwner: true, noPrivileges: true }),
    );
    assert.equal(result.rowCountsMatch, true);
    for (const table of ['public.todos', 'private.ledger']) assert.deepEqual(await contents(bare.adminUrl, table), await contents(source.adminUrl, table));
    assert.deepEqual(await all(bare.adminUrl, `SELECT tableowner FROM pg_tables WHERE tablename = 'ledger'`), [{ tableowner: 'postgres' }], 'no ALTER … OWNER');
    const privileges = (url: string) =>
      all(url, `SELECT grantee, privilege_type FROM information_schema.role_table_grants WHERE table_schema = 'public' AND table_name = 'todos' AND grantee IN ('anon', 'app_reader') ORDER BY 1, 2`);
    assert.ok((await privileges(source.adminUrl)).some((p) => p.grantee === 'app_reader'));
    // No GRANT/REVOKE of the backup: anon gets the project's defaults (DELETE included, which the source revoked), app_reader nothing.
    assert.deepEqual(
      (await privileges(bare.adminUrl)).map((p) => `${p.grantee} ${p.privilege_type}`),
      ['anon DELETE', 'anon INSERT', 'anon REFERENCES', 'anon SELECT', 'anon TRIGGER', 'anon TRUNCATE', 'anon UPDATE'],
    );
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
