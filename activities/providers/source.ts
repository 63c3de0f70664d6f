// Where a backup reads from and a restore writes to, per provider: a plain connection, a Neon branch's endpoint
// (its URI fetched from the API here, never carried by a workflow), or a Supabase project's connection.
import { databaseView } from '../../config/load.js';
import type { Config, Provider } from '../../config/schema.js';
import { PgwardenError } from '../../domain/errors.js';
import { restoreEndpoint, sourceEndpoint, type PgEndpoint } from '../postgres/connection.js';
import { neonApi } from './neon/api.js';
import type { NeonDumpSource } from './neon/backup-branch.js';
import { neonBranchEndpoint, neonRestoreEndpoint } from './neon/branch.js';
import { checkSupabaseConnection } from './supabase.js';

export function providerOf(config: Config, database: string): Provider {
  return databaseView(config, database).settings.provider;
}

/** The connection a backup dumps: the Neon branch's when given, else the database's own. */
export async function dumpEndpoint(config: Config, database: string, neon?: NeonDumpSource): Promise<PgEndpoint> {
  const provider = providerOf(config, database);
  if (provider === 'neon') {
    // The same call fails the same way every time: a run started before the database moved to Neon, or a step
    // started by hand without the branch. Not retried.
    if (!neon) {
      throw new PgwardenError(
        'Config',
        `Database "${database}" is on Neon: its backups dump a branch made for them, and none was given. Start the backup with pgwarden backup --db ${database} (its workflow makes the branch); if the database is not on Neon, fix databases.${database}.provider.`,
      );
    }
    return neonBranchEndpoint(config, database, neon);
  }
  const endpoint = sourceEndpoint(config, database);
  if (provider === 'supabase') checkSupabaseConnection(endpoint, databaseView(config, database).settings.supabase, database);
  return endpoint;
}

/** Where restores go: the drill server for drills, restoreConnection when set; for Neon, else the parent branch's read-write endpoint. */
export async function restoreTarget(config: Config, database: string, server?: 'drill'): Promise<PgEndpoint> {
  const db = databaseView(config, database);
  const drill = server === 'drill' && db.settings.drill?.connection;
  if (db.settings.provider === 'neon' && !db.settings.restoreConnection && !drill) return neonRestoreEndpoint(config, database);
  const endpoint = restoreEndpoint(config, database, server);
  if (db.settings.provider === 'supabase') checkSupabaseConnection(endpoint, db.settings.supabase, database, 'restoreConnection');
  return endpoint;
}

/** The Neon project's PostgreSQL major version (for pg_dump), checking the API key and project on the way. */
export async function neonServerMajor(config: Config, database: string): Promise<number> {
  const api = neonApi(config, database);
  const project = await api.project();
  await api.parentBranch();
  return project.pgVersion;
}

