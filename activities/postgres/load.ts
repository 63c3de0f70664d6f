// pg_restore and psql processes that load a logical backup's pieces into a database from stdin.
import type { Writable } from 'node:stream';
import { execa, type ResultPromise } from 'execa';
import pg from 'pg';
import { PgwardenError } from '../../config/errors.js';
import type { PgEndpoint } from './connection.js';
import { connect, libpqEnv, quoteIdent, withDatabase } from './connection.js';

export interface Loader {
  stdin: Writable;
  child: ResultPromise;
}

export interface LoadOptions {
  noOwner: boolean;
}

/** Session settings for loading: a crash mid-restore loses only the staging database, so skip the fsync wait. */
function loadEnv(endpoint: PgEndpoint): Record<string, string> {
  const env = libpqEnv(endpoint);
  env.PGOPTIONS = `${env.PGOPTIONS ? `${env.PGOPTIONS} ` : ''}-c synchronous_commit=off`;
  return env;
}

export function startPgRestore(pgRestore: string, endpoint: PgEndpoint, options: LoadOptions, signal?: AbortSignal): Loader {
  const args = ['--exit-on-error', '--no-password', `--dbname=${endpoint.database}`, ...(options.noOwner ? ['--no-owner'] : [])];
  return start(pgRestore, args, endpoint, signal);
}

export function startPsql(psql: string, endpoint: PgEndpoint, signal?: AbortSignal): Loader {
  const args = ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '--no-password', `--dbname=${endpoint.database}`];
  return start(psql, args, endpoint, signal);
}

function start(tool: string, args: string[], endpoint: PgEndpoint, signal?: AbortSignal): Loader {
  const child = execa(tool, args, {
    env: loadEnv(endpoint),
    stdin: 'pipe',
    stdout: 'ignore', // psql prints setval() results; nothing there is needed
    stderr: 'pipe',
    buffer: { stderr: true },
    ...(signal ? { cancelSignal: signal } : {}),
  });
  child.catch(() => undefined); // awaited by the caller
  return { stdin: child.stdin!, child };
}

/** A database name pgwarden will create: plain enough for every tool and shell on the way. */
export function checkDatabaseName(name: string, flag: string): void {
  if (!/^[A-Za-z_][A-Za-z0-9_-]{0,62}$/.test(name)) {
    throw new PgwardenError('Usage', `${flag} "${name}" is not a database name pgwarden creates: use letters, digits, _ and -, starting with a letter, at most 63 characters.`);
  }
}

export async function databaseExists(client: pg.Client, name: string): Promise<boolean> {
  const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
  return (rowCount ?? 0) > 0;
}

/** Connection to the server's maintenance database, for CREATE/DROP/ALTER DATABASE. */
export async function connectMaintenance(endpoint: PgEndpoint, purpose: string): Promise<pg.Client> {
  try {
    return await connect(withDatabase(endpoint, 'postgres'), purpose);
  } catch (error) {
    if (error instanceof PgwardenError && error.kind === 'NotFound') return connect(endpoint, purpose);
    throw error;
  }
}

export async function dropDatabase(client: pg.Client, name: string): Promise<void> {
  await client.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`, [name]);
  await client.query(`DROP DATABASE IF EXISTS ${quoteIdent(name)}`);
}
