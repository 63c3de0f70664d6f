// Provider configuration and the pure parts of the Neon and Supabase providers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PgwardenError } from '../../domain/errors.js';
import { parseConfig } from '../../config/load.js';
import { parseRetryAfter } from '../../activities/providers/neon/api.js';
import { neonHistoryWindow, parseNeonTarget } from '../../activities/providers/neon/pitr-branch.js';
import { checkSupabaseConnection, filterSupabaseRoles } from '../../activities/providers/supabase.js';
import { keepTocEntry } from '../../activities/providers/supabase-load-sql.js';
import { pgEndpoint } from '../../activities/postgres/connection.js';

const repositories = { local: { type: 'fs', path: '/var/backups/pgwarden' } };

function configError(databases: unknown): string {
  try {
    parseConfig({ repositories, databases });
  } catch (error) {
    assert.ok(error instanceof PgwardenError);
    return error.message;
  }
  assert.fail('accepted');
}

test('provider: neon takes its connection from the API; defaults follow Neon (NEON_API_KEY, neondb, neondb_owner, v2 API, 24 h expiry, 30 s per request)', () => {
  const config = parseConfig({ repositories, databases: { shop: { provider: 'neon', neon: { projectId: 'shiny-wind-028834' } } } });
  assert.deepEqual(config.databases.shop?.neon, {
    projectId: 'shiny-wind-028834',
    apiKeyEnv: 'NEON_API_KEY',
    database: 'neondb',
    role: 'neondb_owner',
    apiUrl: 'https://console.neon.tech/api/v2',
    branchExpiry: 24 * 3_600_000,
    requestTimeout: 30_000,
  });
});

test('invalid provider combinations fail at load time with the key path', () => {
  assert.match(configError({ shop: { provider: 'neon' } }), /databases\.shop\.neon: provider neon needs/);
  assert.match(configError({ shop: { provider: 'neon', neon: { projectId: 'p-1' }, connection: { env: 'X' } } }), /databases\.shop\.connection: a Neon database is read through a branch/);
  assert.match(configError({ shop: { provider: 'neon', neon: { projectId: 'Not A Project' } } }), /databases\.shop\.neon\.projectId: must be the Neon project id/);
  assert.match(configError({ app: { provider: 'supabase' } }), /databases\.app\.connection: is required/);
  assert.match(configError({ app: { provider: 'supabase', connection: { env: 'X' }, pitr: {} } }), /databases\.app\.pitr: Supabase does not give you its WAL/);
  assert.match(configError({ app: { provider: 'supabase', connection: { env: 'X' }, supabase: { projectRef: 'short' } } }), /databases\.app\.supabase\.projectRef: must be the 20-letter project ref/);
  assert.match(configError({ app: { connection: { env: 'X' }, neon: { projectId: 'p' } } }), /databases\.app\.neon: only for provider: neon/);
  assert.match(configError({ app: { provider: 'mysql', connection: { env: 'X' } } }), /databases\.app\.provider: must be one of postgres, neon, supabase/);
});

test('a transaction-mode pooler is refused and the connection must belong to the configured project', () => {
  const ref = 'abcdefghijklmnopqrst';
  const ok = (url: string) => checkSupabaseConnection(pgEndpoint(url, 't'), { projectRef: ref }, 'app');
  ok(`postgresql://postgres:pw@db.${ref}.supabase.co:5432/postgres`);
  ok(`postgresql://postgres.${ref}:pw@aws-0-eu-central-1.pooler.supabase.com:5432/postgres`);
  assert.throws(() => ok(`postgresql://postgres.${ref}:pw@aws-0-eu-central-1.pooler.supabase.com:6543/postgres`), /transaction-mode pooler/);
  assert.throws(() => ok('postgresql://postgres:pw@db.zzzzzzzzzzzzzzzzzzzz.supabase.co:5432/postgres'), /is not Supabase project abcdefghijklmnopqrst/);
});

test("roles: the platform's are left out, no superuser-only attributes, memberships of platform roles tried and reported, CREATE tolerates existing roles", () => {
  const dumped = [
    'SET default_transaction_read_only = off;',
    'CREATE ROLE "anon";',
    'ALTER ROLE "anon" WITH NOSUPERUSER INHERIT NOCREATEROLE NOCREATEDB NOLOGIN NOREPLICATION NOBYPASSRLS;',
    'CREATE ROLE "supabase_storage_admin";',
    'CREATE ROLE "app_reporter";',
    'ALTER ROLE "app_reporter" WITH NOSUPERUSER INHERIT NOCREATEROLE NOCREATEDB LOGIN NOREPLICATION BYPASSRLS;',
    'ALTER ROLE "app_reporter" SET "statement_timeout" TO \'30s\';',
    'ALTER ROLE "authenticator" SET "pgrst.db_schemas" TO \'public, api\';',
    'ALTER ROLE "postgres" SET "search_path" TO \'x\';',
    'GRANT "app_reporter" TO "authenticator" GRANTED BY "postgres";',
    'GRANT "app_reporter" TO "analyst" GRANTED BY "supabase_admin";',
    'GRANT "anon" TO "authenticator" GRANTED BY "supabase_admin";',
    'GRANT "pg_read_all_data" TO "supabase_read_only_user" GRANTED BY "supabase_admin";',
  ].join('\n');
  const sql = filterSupabaseRoles(dumped);
  assert.doesNotMatch(sql, /CREATE ROLE "anon"|supabase_storage_admin|supabase_read_only_user|"postgres" SET|"anon" TO "authenticator"/);
  assert.match(
    sql,
    /^DO \$pgwarden\$ BEGIN GRANT "app_reporter" TO "authenticator"; EXCEPTION WHEN OTHERS THEN RAISE WARNING 'pgwarden: membership of authenticator in app_reporter not restored: %', SQLERRM; END \$pgwarden\$;$/m,
    'a user role granted to a platform role: tried, reported if the project refuses it',
  );
  assert.match(sql, /CREATE ROLE "app_reporter"; EXCEPTION WHEN duplicate_object/);
  assert.match(sql, /ALTER ROLE "app_reporter" WITH INHERIT NOCREATEROLE NOCREATEDB LOGIN;/);
  assert.match(sql, /-- pgwarden: app_reporter had BYPASSRLS, which only a superuser may give/);
  assert.match(sql, /ALTER ROLE "authenticator" SET "pgrst.db_schemas"/, 'allowed settings on reserved roles stay (the CLI keeps them too)');
  assert.match(sql, /^GRANT "app_reporter" TO "analyst";$/m);
});

test("Supabase schema: privileges on what the platform or an extension owns are left to the project, the user's kept; realtime tables kept", () => {
  assert.equal(keepTocEntry('4123; 0 0 ACL extensions FUNCTION armor(bytea) supabase_admin'), false);
  assert.equal(keepTocEntry('4124; 0 0 ACL public FUNCTION pg_stat_statements_reset(oid, oid, bigint) supabase_admin'), false, 'an extension member in public, owned by the platform');
  assert.equal(keepTocEntry('4125; 0 0 ACL auth FUNCTION uid() postgres'), false, 'in a platform schema');
  assert.equal(keepTocEntry('4126; 0 0 ACL public TABLE todos postgres'), true);
  assert.equal(keepTocEntry('4127; 0 0 ACL - SCHEMA public pg_database_owner'), true);
  assert.equal(keepTocEntry('4128; 0 0 DEFAULT ACL public DEFAULT PRIVILEGES FOR TABLES supabase_admin'), false);
  assert.equal(keepTocEntry('3900; 6106 16999 PUBLICATION TABLE public supabase_realtime todos postgres'), true);
  assert.equal(keepTocEntry('3899; 6104 16998 PUBLICATION - supabase_realtime postgres'), false);
  assert.equal(keepTocEntry('3901; 3466 16997 EVENT TRIGGER - pgrst_ddl_watch supabase_admin'), false);
  assert.equal(keepTocEntry('250; 1259 16500 TABLE public todos postgres'), true);
});

test('Retry-After in seconds or as an HTTP date; Neon PITR targets are times, LSNs or latest', () => {
  assert.equal(parseRetryAfter('3'), 3_000);
  assert.equal(parseRetryAfter(new Date(10_000).toUTCString(), 4_000), 6_000);
  assert.equal(parseRetryAfter('soon'), undefined);
  assert.equal(parseRetryAfter('99999'), 300_000, 'capped');
  assert.deepEqual(parseNeonTarget('2026-11-25T14:30:00+01:00'), { timestamp: '2026-11-25T13:30:00Z' });
  assert.deepEqual(parseNeonTarget('0/3000028'), { lsn: '0/3000028' });
  assert.deepEqual(parseNeonTarget('latest'), {});
  assert.throws(() => parseNeonTarget('xid:1234'), /no transaction ids or named restore points/);
});

test('neon.branchExpiry above 30 days is refused by the config (Neon answers 400 to every backup otherwise)', () => {
  assert.match(configError({ shop: { provider: 'neon', neon: { projectId: 'p-1', branchExpiry: '31d' } } }), /databases\.shop\.neon\.branchExpiry: .*30 days/);
  const config = parseConfig({ repositories, databases: { shop: { provider: 'neon', neon: { projectId: 'p-1', branchExpiry: '30d' } } } });
  assert.equal(config.databases.shop?.neon?.branchExpiry, 30 * 86_400_000);
});

test("Neon's restore window is the history setting, capped by the plan, and begins no earlier than the project", () => {
  const now = Date.parse('2026-12-07T12:00:00Z');
  const old = '2026-01-01T00:00:00Z';
  assert.deepEqual(neonHistoryWindow({ historyRetentionSeconds: 86_400, createdAt: old, plan: 'launch' }, now), { from: '2026-12-06T12:00:00.000Z', to: '2026-12-07T12:00:00.000Z', retentionSeconds: 86_400 });
  // A project made 20 minutes ago has 20 minutes of history, whatever its setting.
  assert.deepEqual(neonHistoryWindow({ historyRetentionSeconds: 3_600, createdAt: '2026-12-07T11:40:00.300Z', plan: 'scale' }, now), {
    from: '2026-12-07T11:40:01.000Z',
    to: '2026-12-07T12:00:00.000Z',
    retentionSeconds: 1_199,
    limitedBy: 'project age',
  });
  // A project moved to the Free plan keeps its 7-day setting; Neon honours 6 hours.
  assert.deepEqual(neonHistoryWindow({ historyRetentionSeconds: 7 * 86_400, createdAt: old, plan: 'free_v3' }, now), { from: '2026-12-07T06:00:00.000Z', to: '2026-12-07T12:00:00.000Z', retentionSeconds: 21_600, limitedBy: 'plan' });
  assert.equal(neonHistoryWindow({ historyRetentionSeconds: 40 * 86_400, createdAt: old, plan: 'business' }, now).retentionSeconds, 30 * 86_400);
  assert.equal(neonHistoryWindow({ historyRetentionSeconds: 7 * 86_400, createdAt: old }, now).retentionSeconds, 7 * 86_400, 'an unknown plan: the setting');
});
