// Turns a database's connection URL (from its secret) into what pg and the libpq tools need.
import pg from 'pg';
import { parse } from 'pg-connection-string';
import { PgwardenError } from '../../config/errors.js';
import type { Config } from '../../config/schema.js';
import { databaseView } from '../../config/load.js';
import { resolveSecret } from '../../config/secrets.js';

/** libpq environment variables for URL query parameters (children get secrets via env, never argv). */
const PARAM_ENV: Record<string, string> = {
  sslmode: 'PGSSLMODE',
  sslrootcert: 'PGSSLROOTCERT',
  sslcert: 'PGSSLCERT',
  sslkey: 'PGSSLKEY',
  sslcrl: 'PGSSLCRL',
  application_name: 'PGAPPNAME',
  options: 'PGOPTIONS',
  connect_timeout: 'PGCONNECT_TIMEOUT',
  target_session_attrs: 'PGTARGETSESSIONATTRS',
  channel_binding: 'PGCHANNELBINDING',
};

export interface PgEndpoint {
  /** The URL without changes: only ever handed to pg in memory. */
  readonly url: string;
  /** Database the URL names. */
  readonly database: string;
  /** "host:port" for messages (never the password). */
  readonly display: string;
}

export function pgEndpoint(url: string, what: string): PgEndpoint {
  if (!/^postgres(ql)?:\/\//.test(url)) {
    throw new PgwardenError('Config', `The connection for ${what} is not a postgresql:// URL: write it as postgresql://USER:PASSWORD@HOST:PORT/DBNAME.`);
  }
  const parts = parse(url);
  return { url, database: parts.database ?? 'postgres', display: `${parts.host || 'localhost'}:${parts.port || 5432}` };
}

/** The same server, another database. */
export function withDatabase(endpoint: PgEndpoint, database: string): PgEndpoint {
  const parsed = new URL(endpoint.url);
  parsed.pathname = `/${encodeURIComponent(database)}`;
  return { url: parsed.toString(), database, display: endpoint.display };
}

/**
 * Environment for pg_dump, pg_restore, psql: PGHOST, PGPASSWORD, … from the URL, over libpq's own settings in the
 * worker's environment (PGSSLROOTCERT, PGPASSFILE, …). Child processes get this and nothing else of the worker's.
 */
export function libpqEnv(endpoint: PgEndpoint): Record<string, string> {
  const parts = parse(endpoint.url) as Record<string, unknown>;
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(process.env)) if (value !== undefined && /^PG[A-Z_]+$/.test(name) && !name.startsWith('PGWARDEN')) env[name] = value;
  env.PGDATABASE = endpoint.database;
  const set = (name: string, value: unknown) => {
    if (typeof value === 'string' && value !== '') env[name] = value;
  };
  set('PGHOST', parts.host);
  set('PGPORT', parts.port);
  set('PGUSER', parts.user);
  set('PGPASSWORD', parts.password);
  for (const [param, variable] of Object.entries(PARAM_ENV)) set(variable, parts[param]);
  return env;
}

/** Where backups of `database` are read from. */
export function sourceEndpoint(config: Config, database: string): PgEndpoint {
  const db = databaseView(config, database);
  return pgEndpoint(resolveSecret(db.settings.connection, `the connection of database "${database}"`), `database "${database}"`);
}

/** Where restores of `database` go: restoreConnection when set, else the server it came from. */
export function restoreEndpoint(config: Config, database: string): PgEndpoint {
  const db = databaseView(config, database);
  if (!db.settings.restoreConnection) return sourceEndpoint(config, database);
  return pgEndpoint(
    resolveSecret(db.settings.restoreConnection, `the restore connection of database "${database}"`),
    `restores of database "${database}"`,
  );
}

export async function connect(endpoint: PgEndpoint, purpose: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: endpoint.url, application_name: `pgwarden ${purpose}` });
  try {
    await client.connect();
  } catch (error) {
    await client.end().catch(() => undefined);
    throw explainConnectError(error, endpoint);
  }
  client.on('error', () => undefined); // a dropped connection surfaces on the next query
  return client;
}

export async function withClient<T>(endpoint: PgEndpoint, purpose: string, use: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = await connect(endpoint, purpose);
  try {
    return await use(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

function explainConnectError(error: unknown, endpoint: PgEndpoint): PgwardenError {
  const e = error as { code?: string; message?: string };
  const where = `PostgreSQL at ${endpoint.display}, database "${endpoint.database}"`;
  switch (e.code) {
    case '28P01':
    case '28000':
      return new PgwardenError('Config', `${where} refused the credentials: ${e.message}. Fix the user/password in the connection URL.`, { cause: error });
    case '3D000':
      return new PgwardenError('NotFound', `${where}: ${e.message}.`, { cause: error });
    case 'ECONNREFUSED':
    case 'ENOTFOUND':
    case 'ETIMEDOUT':
    case 'EHOSTUNREACH':
    case '57P03':
      return new PgwardenError('Unavailable', `Cannot reach ${where}: ${e.message}. Is the server running and the address right?`, { cause: error });
    default:
      return new PgwardenError('Unavailable', `Cannot connect to ${where}: ${e.message ?? String(error)}`, { cause: error });
  }
}

/** Double-quotes an identifier for SQL: my"db -> "my""db". */
export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}
