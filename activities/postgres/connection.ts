// Turns a database's connection URL (from its secret) into what pg and the libpq tools need.
import pg from 'pg';
import { parse, toClientConfig } from 'pg-connection-string';
import { PgwardenError } from '../../domain/errors.js';
import type { Config } from '../../config/schema.js';
import { databaseView } from '../../config/load.js';
import { resolveSecret } from '../../config/secrets.js';
import { libpqTlsEnv, nodeSslAttempts, pgTls, tryNextTlsAttempt } from './tls.js';

/** libpq environment variables for URL query parameters (children get secrets via env, never argv); sslmode and
 *  its files come from tls.ts. */
const PARAM_ENV: Record<string, string> = {
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

/** The URL without its TLS parameters: tls.ts reads those (pg-connection-string's own reading differs from libpq's,
 *  and warns on stderr when it sees them). */
function withoutTls(url: string): string {
  const plain = new URL(url);
  for (const name of ['sslmode', 'sslrootcert', 'sslcert', 'sslkey', 'ssl', 'uselibpqcompat']) plain.searchParams.delete(name);
  return plain.toString();
}

export function pgEndpoint(url: string, what: string): PgEndpoint {
  if (!/^postgres(ql)?:\/\//.test(url)) {
    throw new PgwardenError('Config', `The connection for ${what} is not a postgresql:// URL: write it as postgresql://USER:PASSWORD@HOST:PORT/DBNAME.`);
  }
  const parts = parse(withoutTls(url));
  return { url, database: parts.database ?? 'postgres', display: `${parts.host || 'localhost'}:${parts.port || 5432}` };
}

/** The same server, another database. */
export function withDatabase(endpoint: PgEndpoint, database: string): PgEndpoint {
  const parsed = new URL(endpoint.url);
  parsed.pathname = `/${encodeURIComponent(database)}`;
  return { url: parsed.toString(), database, display: endpoint.display };
}

/** Environment for pg_dump, pg_restore, psql: PGHOST, PGPASSWORD, … */
export function libpqEnv(endpoint: PgEndpoint): Record<string, string> {
  const parts = parse(withoutTls(endpoint.url)) as Record<string, unknown>;
  const env: Record<string, string> = { PGDATABASE: endpoint.database };
  const set = (name: string, value: unknown) => {
    if (typeof value === 'string' && value !== '') env[name] = value;
  };
  set('PGHOST', parts.host);
  set('PGPORT', parts.port);
  set('PGUSER', parts.user);
  set('PGPASSWORD', parts.password);
  for (const [param, variable] of Object.entries(PARAM_ENV)) set(variable, parts[param]);
  // sslmode and its files as tls.ts reads them: the tools and pgwarden's own connections agree (and an
  // inherited PGSSLMODE cannot change what the URL says).
  return { ...env, ...libpqTlsEnv(pgTls(endpoint.url, `the server at ${endpoint.display}`)) };
}

/** Where backups of `database` are read from. */
export function sourceEndpoint(config: Config, database: string): PgEndpoint {
  const db = databaseView(config, database);
  if (!db.settings.connection) {
    throw new PgwardenError('Config', `Database "${database}" (provider ${db.settings.provider}) has no connection: a Neon database is reached through the branches the Neon API makes.`);
  }
  return pgEndpoint(resolveSecret(db.settings.connection, `the connection of database "${database}"`), `database "${database}"`);
}

/**
 * Where restores of `database` go: restoreConnection when set, else the server it came from. Restore drills
 * (server 'drill') go to drill.connection when set, else the same place.
 */
export function restoreEndpoint(config: Config, database: string, server?: 'drill'): PgEndpoint {
  const db = databaseView(config, database);
  const drill = server === 'drill' ? db.settings.drill?.connection : undefined;
  if (drill) return pgEndpoint(resolveSecret(drill, `the drill connection of database "${database}"`), `restore drills of database "${database}"`);
  if (!db.settings.restoreConnection) return sourceEndpoint(config, database);
  return pgEndpoint(
    resolveSecret(db.settings.restoreConnection, `the restore connection of database "${database}"`),
    `restores of database "${database}"`,
  );
}

/**
 * A node-postgres connection with the URL's TLS meaning (tls.ts): allow and prefer try their second way when the
 * first is refused, as libpq does. Throws the driver's error as it came.
 */
export async function openClient(endpoint: PgEndpoint, options: pg.ClientConfig = {}): Promise<pg.Client> {
  const tls = pgTls(endpoint.url, `the server at ${endpoint.display}`);
  const attempts = nodeSslAttempts(endpoint.url, tls, `the server at ${endpoint.display}`);
  // Everything but TLS from the URL; TLS from above (never from pg's own reading of sslmode or PGSSLMODE).
  const base = toClientConfig(parse(withoutTls(endpoint.url)));
  for (const [i, ssl] of attempts.entries()) {
    const client = new pg.Client({ ...base, ...options, ssl });
    try {
      await client.connect();
      return client;
    } catch (error) {
      await client.end().catch(() => undefined);
      if (i === attempts.length - 1 || !tryNextTlsAttempt(tls.mode, error)) throw error;
    }
  }
  throw new Error('unreachable');
}

export async function connect(endpoint: PgEndpoint, purpose: string): Promise<pg.Client> {
  let client: pg.Client;
  try {
    client = await openClient(endpoint, { application_name: `pgwarden ${purpose}` });
  } catch (error) {
    if (error instanceof PgwardenError) throw error;
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
      if (/certificate|self.signed|SSL|TLS|altnames|Hostname\/IP/i.test(`${e.code ?? ''} ${e.message ?? ''}`)) {
        return new PgwardenError(
          'Config',
          `TLS to ${where} failed: ${e.message ?? e.code}. Check sslmode and sslrootcert in the connection URL (README: "TLS").`,
          { cause: error },
        );
      }
      return new PgwardenError('Unavailable', `Cannot connect to ${where}: ${e.message ?? String(error)}`, { cause: error });
  }
}

/** Double-quotes an identifier for SQL: my"db -> "my""db". */
export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}
