// A local PostgreSQL cluster prepared as strictly as a Supabase project: the platform's superuser (supabase_admin)
// owns the managed schemas (auth, storage, extensions, realtime, vault, supabase_migrations, graphql_public), the
// extensions' members (pgcrypto, uuid-ossp, pg_stat_statements, pgjwt's functions) with postgres holding their
// privileges WITH GRANT OPTION, and the event triggers; the publication supabase_realtime and the roles (anon,
// authenticated, service_role, authenticator, supabase_*_admin, …) are there; the user gets the non-superuser
// postgres role, allowed to set session_replication_role (on Supabase, supautils allows it). `withUserData` adds
// what a user builds on top: tables with RLS policies that use auth.uid(), grants, a realtime table, roles and
// memberships, a trigger from auth.users into public, a user schema, an extension, users, buckets, and the migration
// history the Supabase CLI writes.
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { serverBinDir } from '../../activities/postgres/binaries.js';
import { clusterUser, freePort, LocalCluster } from '../../activities/postgres/cluster.js';
import { initAndStart } from './pg-template.js';

export interface SupabaseProject {
  /** The user's connection: the postgres role (not a superuser), database postgres. */
  url: string;
  /** The platform's superuser, for checks only. */
  adminUrl: string;
  query<T extends pg.QueryResultRow = pg.QueryResultRow>(sql: string, params?: unknown[]): Promise<pg.QueryResult<T>>;
  stop(): Promise<void>;
}

/**
 * What every project has before its user does anything, run by supabase_admin as the supabase/postgres image's
 * migrations do: the platform's schemas belong to supabase_admin (their tables to the service roles), extensions
 * live in `extensions` and postgres holds their members' privileges WITH GRANT OPTION (granted after CREATE
 * EXTENSION, so pg_dump of a project replays them), event triggers of the platform, the publication that Realtime
 * reads (owned by postgres, so the user can add tables to it). `legacyRoles` are platform roles an older project
 * still has (pgsodium's) and a project made today does not.
 */
const PLATFORM_SQL = (postgresPassword: string, legacyRoles: boolean) => `
CREATE ROLE postgres LOGIN CREATEDB CREATEROLE REPLICATION BYPASSRLS PASSWORD '${postgresPassword}';
CREATE ROLE anon NOLOGIN NOINHERIT;
CREATE ROLE authenticated NOLOGIN NOINHERIT;
CREATE ROLE service_role NOLOGIN NOINHERIT BYPASSRLS;
CREATE ROLE authenticator LOGIN NOINHERIT PASSWORD '${randomBytes(8).toString('hex')}';
CREATE ROLE supabase_auth_admin LOGIN NOINHERIT CREATEROLE PASSWORD '${randomBytes(8).toString('hex')}';
CREATE ROLE supabase_storage_admin LOGIN NOINHERIT CREATEROLE PASSWORD '${randomBytes(8).toString('hex')}';
CREATE ROLE supabase_realtime_admin NOLOGIN NOINHERIT;
CREATE ROLE supabase_read_only_user LOGIN BYPASSRLS PASSWORD '${randomBytes(8).toString('hex')}';
CREATE ROLE dashboard_user NOLOGIN CREATEDB CREATEROLE REPLICATION;
CREATE ROLE pgbouncer LOGIN PASSWORD '${randomBytes(8).toString('hex')}';
${legacyRoles ? 'CREATE ROLE pgsodium_keyholder NOLOGIN NOINHERIT;' : ''}
GRANT anon, authenticated, service_role TO authenticator;
GRANT anon, authenticated, service_role TO postgres;
GRANT supabase_storage_admin TO postgres;
GRANT pg_read_all_data TO supabase_read_only_user;
GRANT SET ON PARAMETER session_replication_role TO postgres;
ALTER DATABASE postgres OWNER TO postgres;

CREATE SCHEMA extensions;
GRANT USAGE, CREATE ON SCHEMA extensions TO postgres WITH GRANT OPTION;
GRANT USAGE ON SCHEMA extensions TO anon, authenticated, service_role, supabase_auth_admin, supabase_storage_admin, dashboard_user;
CREATE EXTENSION pgcrypto WITH SCHEMA extensions;
CREATE EXTENSION "uuid-ossp" WITH SCHEMA extensions;
CREATE EXTENSION pg_stat_statements WITH SCHEMA extensions;
-- pgjwt is not packaged by Debian: its functions as the extension defines them, plain SQL owned by supabase_admin.
CREATE FUNCTION extensions.url_encode(data bytea) RETURNS text LANGUAGE sql IMMUTABLE AS $$
  SELECT translate(encode(data, 'base64'), E'+/=\n', '-_') $$;
CREATE FUNCTION extensions.url_decode(data text) RETURNS bytea LANGUAGE sql IMMUTABLE AS $$
  WITH t AS (SELECT translate(data, '-_', '+/') AS trans), rem AS (SELECT length(t.trans) % 4 AS remainder FROM t)
  SELECT decode(t.trans || CASE WHEN rem.remainder > 0 THEN repeat('=', (4 - rem.remainder)) ELSE '' END, 'base64') FROM t, rem $$;
CREATE FUNCTION extensions.algorithm_sign(signables text, secret text, algorithm text) RETURNS text LANGUAGE sql IMMUTABLE AS $$
  WITH alg AS (SELECT CASE WHEN algorithm = 'HS256' THEN 'sha256' WHEN algorithm = 'HS384' THEN 'sha384' WHEN algorithm = 'HS512' THEN 'sha512' ELSE '' END AS id)
  SELECT extensions.url_encode(extensions.hmac(signables, secret, alg.id)) FROM alg $$;
CREATE FUNCTION extensions.sign(payload json, secret text, algorithm text DEFAULT 'HS256') RETURNS text LANGUAGE sql IMMUTABLE AS $$
  WITH header AS (SELECT extensions.url_encode(convert_to('{"alg":"' || algorithm || '","typ":"JWT"}', 'utf8')) AS data),
       payload AS (SELECT extensions.url_encode(convert_to(payload::text, 'utf8')) AS data),
       signables AS (SELECT header.data || '.' || payload.data AS data FROM header, payload)
  SELECT signables.data || '.' || extensions.algorithm_sign(signables.data, secret, algorithm) FROM signables $$;
CREATE FUNCTION extensions.verify(token text, secret text, algorithm text DEFAULT 'HS256') RETURNS TABLE(header json, payload json, valid boolean) LANGUAGE sql IMMUTABLE AS $$
  SELECT convert_from(extensions.url_decode(r[1]), 'utf8')::json, convert_from(extensions.url_decode(r[2]), 'utf8')::json,
         r[3] = extensions.algorithm_sign(r[1] || '.' || r[2], secret, algorithm)
    FROM regexp_split_to_array(token, '\.') r $$;
-- As on Supabase: granted after the extensions were made, so these differ from pg_init_privs and pg_dump emits them.
GRANT ALL ON ALL FUNCTIONS IN SCHEMA extensions TO postgres WITH GRANT OPTION;
GRANT ALL ON ALL TABLES IN SCHEMA extensions TO postgres WITH GRANT OPTION;
GRANT ALL ON FUNCTION extensions.armor(bytea) TO dashboard_user;
ALTER DEFAULT PRIVILEGES IN SCHEMA extensions GRANT ALL ON TABLES TO postgres WITH GRANT OPTION;
ALTER DEFAULT PRIVILEGES IN SCHEMA extensions GRANT ALL ON FUNCTIONS TO postgres WITH GRANT OPTION;
ALTER DEFAULT PRIVILEGES IN SCHEMA extensions GRANT ALL ON SEQUENCES TO postgres WITH GRANT OPTION;

-- The platform's event triggers (PostgREST reloads its schema cache after DDL).
CREATE FUNCTION extensions.pgrst_ddl_watch() RETURNS event_trigger LANGUAGE plpgsql AS $$
BEGIN PERFORM pg_notify('pgrst', 'reload schema'); END $$;
CREATE FUNCTION extensions.pgrst_drop_watch() RETURNS event_trigger LANGUAGE plpgsql AS $$
BEGIN PERFORM pg_notify('pgrst', 'reload schema'); END $$;
CREATE EVENT TRIGGER pgrst_ddl_watch ON ddl_command_end EXECUTE FUNCTION extensions.pgrst_ddl_watch();
CREATE EVENT TRIGGER pgrst_drop_watch ON sql_drop EXECUTE FUNCTION extensions.pgrst_drop_watch();

CREATE SCHEMA auth;
GRANT CREATE, USAGE ON SCHEMA auth TO supabase_auth_admin;
SET ROLE supabase_auth_admin;
CREATE TABLE auth.users (
  instance_id uuid, id uuid PRIMARY KEY, aud varchar(255), role varchar(255), email varchar(255) UNIQUE,
  encrypted_password varchar(255), email_confirmed_at timestamptz, raw_app_meta_data jsonb, raw_user_meta_data jsonb,
  created_at timestamptz, updated_at timestamptz, is_anonymous boolean NOT NULL DEFAULT false);
CREATE TABLE auth.identities (
  provider_id text NOT NULL, user_id uuid NOT NULL REFERENCES auth.users (id) ON DELETE CASCADE, identity_data jsonb NOT NULL,
  provider text NOT NULL, last_sign_in_at timestamptz, created_at timestamptz, updated_at timestamptz,
  email text GENERATED ALWAYS AS (lower(identity_data ->> 'email')) STORED, id uuid PRIMARY KEY DEFAULT extensions.gen_random_uuid(),
  UNIQUE (provider_id, provider));
CREATE TABLE auth.refresh_tokens (id bigserial PRIMARY KEY, token varchar(255), user_id varchar(255), revoked boolean, created_at timestamptz);
CREATE TABLE auth.schema_migrations (version varchar(255) PRIMARY KEY);
INSERT INTO auth.schema_migrations VALUES ('20221208132122'), ('20240427152123');
CREATE FUNCTION auth.uid() RETURNS uuid LANGUAGE sql STABLE AS $$ SELECT nullif(current_setting('request.jwt.claim.sub', true), '')::uuid $$;
RESET ROLE;
GRANT USAGE ON SCHEMA auth TO anon, authenticated, service_role, postgres, dashboard_user;
GRANT ALL ON ALL TABLES IN SCHEMA auth TO postgres, dashboard_user;
GRANT ALL ON ALL SEQUENCES IN SCHEMA auth TO postgres, dashboard_user;

CREATE SCHEMA storage;
GRANT CREATE, USAGE ON SCHEMA storage TO supabase_storage_admin;
SET ROLE supabase_storage_admin;
CREATE TABLE storage.buckets (id text PRIMARY KEY, name text NOT NULL UNIQUE, owner uuid, public boolean DEFAULT false, created_at timestamptz DEFAULT now(), updated_at timestamptz DEFAULT now());
CREATE TABLE storage.objects (
  id uuid PRIMARY KEY DEFAULT extensions.gen_random_uuid(), bucket_id text REFERENCES storage.buckets (id), name text, owner uuid, metadata jsonb,
  created_at timestamptz DEFAULT now(), updated_at timestamptz DEFAULT now(), path_tokens text[] GENERATED ALWAYS AS (string_to_array(name, '/')) STORED);
ALTER TABLE storage.objects ENABLE ROW LEVEL SECURITY;
ALTER TABLE storage.buckets ENABLE ROW LEVEL SECURITY;
CREATE TABLE storage.migrations (id integer PRIMARY KEY, name varchar(100) UNIQUE NOT NULL, hash varchar(40) NOT NULL, executed_at timestamp DEFAULT now());
INSERT INTO storage.migrations (id, name, hash) VALUES (0, 'create-migrations-table', 'e18db593bcde2aca2a408c4d1100f6abba2195df'), (1, 'initialmigration', '6ab16121fbaa08bbd11b712d05f358f9b555d777');
RESET ROLE;
GRANT USAGE ON SCHEMA storage TO anon, authenticated, service_role, postgres;
GRANT ALL ON ALL TABLES IN SCHEMA storage TO postgres, anon, authenticated, service_role;

-- The Supabase CLI creates the history table itself (as postgres) the first time it pushes a migration.
CREATE SCHEMA supabase_migrations;
GRANT USAGE, CREATE ON SCHEMA supabase_migrations TO postgres;
CREATE SCHEMA realtime;
GRANT USAGE ON SCHEMA realtime TO postgres, anon, authenticated, service_role, supabase_realtime_admin;
CREATE TABLE realtime.subscription (id bigserial PRIMARY KEY, subscription_id uuid NOT NULL, claims jsonb);
CREATE SCHEMA vault;
CREATE TABLE vault.secrets (id uuid PRIMARY KEY DEFAULT extensions.gen_random_uuid(), name text, secret text NOT NULL);
CREATE SCHEMA graphql_public;
GRANT USAGE ON SCHEMA graphql_public TO postgres, anon, authenticated, service_role;
CREATE PUBLICATION supabase_realtime;
ALTER PUBLICATION supabase_realtime OWNER TO postgres;

GRANT USAGE ON SCHEMA public TO anon, authenticated, service_role;
ALTER DEFAULT PRIVILEGES FOR ROLE postgres IN SCHEMA public GRANT ALL ON TABLES TO anon, authenticated, service_role;
ALTER DEFAULT PRIVILEGES FOR ROLE postgres IN SCHEMA public GRANT ALL ON SEQUENCES TO anon, authenticated, service_role;
ALTER DEFAULT PRIVILEGES FOR ROLE postgres IN SCHEMA public GRANT ALL ON FUNCTIONS TO anon, authenticated, service_role;
ALTER DEFAULT PRIVILEGES FOR ROLE supabase_admin IN SCHEMA public GRANT ALL ON TABLES TO anon, authenticated, service_role;
`;

/** The statements the Supabase CLI runs (as postgres) before it records a pushed migration (pkg/migration/history.go). */
export const MIGRATION_HISTORY_SQL = `
CREATE SCHEMA IF NOT EXISTS supabase_migrations;
CREATE TABLE IF NOT EXISTS supabase_migrations.schema_migrations (version text NOT NULL PRIMARY KEY);
ALTER TABLE supabase_migrations.schema_migrations ADD COLUMN IF NOT EXISTS statements text[];
ALTER TABLE supabase_migrations.schema_migrations ADD COLUMN IF NOT EXISTS name text;
CREATE TABLE IF NOT EXISTS supabase_migrations.seed_files (path text NOT NULL PRIMARY KEY, hash text NOT NULL);
`;

/** What the user built (run as postgres, as in the SQL editor), and what the platform recorded on the way. */
export const USER_SQL = `
CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA extensions;
CREATE TABLE public.profiles (id uuid PRIMARY KEY REFERENCES auth.users (id) ON DELETE CASCADE, username text, created_at timestamptz NOT NULL DEFAULT now());
ALTER TABLE public.profiles ENABLE ROW LEVEL SECURITY;
CREATE POLICY "profiles are visible to their user" ON public.profiles FOR SELECT TO authenticated USING (auth.uid() = id);
CREATE POLICY "users update their profile" ON public.profiles FOR UPDATE TO authenticated USING (auth.uid() = id) WITH CHECK (auth.uid() = id);
CREATE TABLE public.todos (id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, user_id uuid NOT NULL REFERENCES auth.users (id), task text NOT NULL, done boolean NOT NULL DEFAULT false);
ALTER TABLE public.todos ENABLE ROW LEVEL SECURITY;
CREATE POLICY "todos of their user" ON public.todos FOR ALL TO authenticated USING (auth.uid() = user_id) WITH CHECK (auth.uid() = user_id);
REVOKE DELETE, TRUNCATE ON public.todos FROM anon;
CREATE INDEX todos_task_trgm ON public.todos USING gin (task extensions.gin_trgm_ops);
CREATE FUNCTION public.handle_new_user() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = '' AS $$
BEGIN
  INSERT INTO public.profiles (id, username) VALUES (NEW.id, NEW.raw_user_meta_data ->> 'username');
  RETURN NEW;
END $$;
CREATE TRIGGER on_auth_user_created AFTER INSERT ON auth.users FOR EACH ROW EXECUTE FUNCTION public.handle_new_user();
CREATE SCHEMA private;
CREATE TABLE private.notes (id serial PRIMARY KEY, body text);
CREATE ROLE app_reporter LOGIN PASSWORD 'reporter-password';
GRANT USAGE ON SCHEMA private TO app_reporter;
GRANT SELECT ON private.notes TO app_reporter;
ALTER ROLE app_reporter SET statement_timeout = '30s';
CREATE POLICY "avatars are public" ON storage.objects FOR SELECT TO public USING (bucket_id = 'avatars');
ALTER PUBLICATION supabase_realtime ADD TABLE public.todos;
-- Roles of the app: one the API's login role takes on, one postgres acts as, one granted a platform role.
CREATE ROLE app_reader NOLOGIN;
GRANT SELECT ON public.todos TO app_reader;
GRANT app_reader TO authenticator;
CREATE ROLE app_owner NOLOGIN;
GRANT app_owner TO postgres;
GRANT pgsodium_keyholder TO app_reporter;
CREATE TABLE public.audit_log (id bigserial PRIMARY KEY, event text NOT NULL);

INSERT INTO auth.users (id, aud, role, email, encrypted_password, email_confirmed_at, raw_app_meta_data, raw_user_meta_data, created_at, updated_at)
SELECT ('00000000-0000-4000-8000-00000000000' || g)::uuid, 'authenticated', 'authenticated', 'user' || g || '@test.cartly.app',
       extensions.crypt('password' || g, extensions.gen_salt('bf', 4)), now(), '{"provider":"email"}', jsonb_build_object('username', 'user' || g), now(), now()
  FROM generate_series(1, 3) g;
INSERT INTO auth.identities (provider_id, user_id, identity_data, provider, created_at, updated_at)
SELECT id::text, id, jsonb_build_object('sub', id::text, 'email', email), 'email', now(), now() FROM auth.users;
UPDATE public.profiles SET username = username || ' (renamed)' WHERE id = '00000000-0000-4000-8000-000000000001';
INSERT INTO public.todos (user_id, task, done) SELECT ('00000000-0000-4000-8000-00000000000' || (1 + g % 3))::uuid, 'task ' || g, g % 2 = 0 FROM generate_series(1, 40) g;
INSERT INTO private.notes (body) VALUES ('a note'), ('another note');
INSERT INTO storage.buckets (id, name, public) VALUES ('avatars', 'avatars', true);
INSERT INTO storage.objects (bucket_id, name, owner, metadata) VALUES ('avatars', 'user1/me.png', '00000000-0000-4000-8000-000000000001', '{"size": 1234, "mimetype": "image/png"}');
INSERT INTO public.audit_log (event) VALUES ('signup'), ('login');
INSERT INTO auth.refresh_tokens (token, user_id, revoked, created_at) SELECT 'token' || g, '00000000-0000-4000-8000-000000000001', false, now() FROM generate_series(1, 4) g;
${MIGRATION_HISTORY_SQL}
INSERT INTO supabase_migrations.schema_migrations (version, name, statements) VALUES
  ('20261101000000', 'profiles', ARRAY['create table public.profiles (id uuid primary key references auth.users (id))']),
  ('20261102000000', 'todos', ARRAY['create table public.todos (id bigint generated by default as identity primary key)', 'alter table public.todos enable row level security']);
INSERT INTO supabase_migrations.seed_files (path, hash) VALUES ('supabase/seed.sql', 'c0ffee');
`;

/** The platform's own writes after the user's: realtime subscriptions and a vault secret (both must stay out). */
const PLATFORM_DATA_SQL = `
INSERT INTO realtime.subscription (subscription_id, claims) VALUES (extensions.gen_random_uuid(), '{}');
INSERT INTO vault.secrets (name, secret) VALUES ('stripe', 'sk_live_not_for_backups');
`;

export async function startSupabaseProject(options: { withUserData: boolean; legacyRoles?: boolean }): Promise<SupabaseProject> {
  const user = await clusterUser(process.env.PGWARDEN_CLUSTER_USER ?? 'pgwarden');
  const root = mkdtempSync(join(tmpdir(), 'pgwarden-test-supabase-'));
  chmodSync(root, 0o755);
  const adminPassword = randomBytes(12).toString('hex');
  const postgresPassword = randomBytes(12).toString('hex');
  const cluster = new LocalCluster({ dataDir: join(root, 'data'), binDir: serverBinDir(), port: await freePort(), ...(user ? { user } : {}) });
  if (user) cluster.own(root);
  await initAndStart(cluster, 'supabase_admin', adminPassword);
  const adminUrl = cluster.url('supabase_admin', adminPassword, 'postgres');
  const url = cluster.url('postgres', postgresPassword, 'postgres');
  const stop = async () => {
    await cluster.stop('immediate');
    rmSync(root, { recursive: true, force: true });
  };
  try {
    await run(adminUrl, PLATFORM_SQL(postgresPassword, options.legacyRoles ?? false));
    if (options.withUserData) {
      await run(url, USER_SQL);
      await run(adminUrl, PLATFORM_DATA_SQL);
    }
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    url,
    adminUrl,
    query: async (sql, params) => {
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        return await client.query(sql, params);
      } finally {
        await client.end();
      }
    },
    stop,
  };
}

async function run(url: string, sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}
