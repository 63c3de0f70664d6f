// pg_restore and psql as the last step of a restore's process chain, and the databases they load into.
import pg from 'pg';
import { PgwardenError } from '../../config/errors.js';
import type { Step } from '../pipeline/chain.js';
import type { PgEndpoint } from './connection.js';
import { connect, libpqEnv, quoteIdent, withDatabase } from './connection.js';

export interface LoadOptions {
  noOwner: boolean;
}

/**
 * Session settings for loading: a crash mid-restore loses only the staging database, so skip the fsync wait;
 * index builds get more memory than the default 64 MB.
 */
export function loadEnv(endpoint: PgEndpoint): Record<string, string> {
  const env = libpqEnv(endpoint);
  env.PGOPTIONS = `${env.PGOPTIONS ? `${env.PGOPTIONS} ` : ''}-c synchronous_commit=off -c maintenance_work_mem=256MB`;
  return env;
}

function explainTool(tool: string, what: string) {
  return (stderr: string, exitCode: number | null) =>
    new PgwardenError('Failed', `${tool} failed loading ${what}${exitCode !== null ? ` (exit ${exitCode})` : ''}:\n  ${stderr.split('\n').filter(Boolean).slice(-6).join('\n  ')}`, {
      retryable: true,
    });
}

/** pg_restore reading a custom-format archive on stdin. */
export function pgRestoreStep(pgRestore: string, endpoint: PgEndpoint, options: LoadOptions, what: string): Step {
  return {
    command: pgRestore,
    args: ['--exit-on-error', '--no-password', `--dbname=${endpoint.database}`, ...(options.noOwner ? ['--no-owner'] : [])],
    env: loadEnv(endpoint),
    label: 'pg_restore',
    explain: explainTool('pg_restore', what),
  };
}

/** psql running a plain SQL dump from stdin; not quiet, so that each COPY reports its row count ("COPY 42"). */
export function psqlStep(psql: string, endpoint: PgEndpoint, what: string): Step {
  return {
    command: psql,
    args: ['-X', '-v', 'ON_ERROR_STOP=1', '--no-password', `--dbname=${endpoint.database}`],
    env: loadEnv(endpoint),
    label: 'psql',
    explain: explainTool('psql', what),
  };
}

/** The row counts the server reported for each COPY, in order: what was actually loaded. */
export function copyCounts(psqlOutput: string): number[] {
  return [...psqlOutput.matchAll(/^COPY (\d+)$/gm)].map((m) => Number(m[1]));
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
