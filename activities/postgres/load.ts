// pg_restore and psql as the last step of a restore's process chain, and the databases they load into.
import pg from 'pg';
import { PgwardenError } from '../../domain/errors.js';
import type { Step } from '../pipeline/chain.js';
import type { PgEndpoint } from './connection.js';
import { connect, libpqEnv, quoteIdent, withDatabase } from './connection.js';

export interface LoadOptions {
  /** pg_restore --no-owner: objects belong to the restoring user, no ALTER … OWNER TO the backup's roles. */
  noOwner: boolean;
  /** pg_restore --no-privileges: no GRANT/REVOKE, which name the backup's roles. */
  noPrivileges?: boolean;
}

/**
 * Session settings for loading: a crash mid-restore loses only the staging database, so skip the fsync wait;
 * index builds get more memory than the default 64 MB. The tools speak English (LC_MESSAGES=C): their own words
 * tell a broken connection from a statement the server refused (see explainLoadFailure).
 */
export function loadEnv(endpoint: PgEndpoint): Record<string, string> {
  const env = libpqEnv(endpoint);
  env.PGOPTIONS = `${env.PGOPTIONS ? `${env.PGOPTIONS} ` : ''}-c synchronous_commit=off -c maintenance_work_mem=256MB`;
  env.LC_MESSAGES = 'C';
  if (process.env.LC_ALL) {
    env.LC_CTYPE = process.env.LC_ALL; // LC_ALL would override LC_MESSAGES; keep its character set
    env.LC_ALL = '';
  }
  return env;
}

/** pg_restore's flags for the options. */
export function restoreFlags(options: LoadOptions): string[] {
  return [...(options.noOwner ? ['--no-owner'] : []), ...(options.noPrivileges ? ['--no-privileges'] : [])];
}

/** libpq's and the tools' own words (English, see loadEnv) for a connection that could not be made or broke. */
const CONNECTION_TROUBLE =
  /server closed the connection unexpectedly|no connection to the server|connection to server .*(failed|was lost)|could not (connect to|receive data from|send data to) server|SSL (SYSCALL )?error|terminating connection|the database system is (starting up|shutting down|in recovery mode|not yet accepting connections)|Connection refused|timeout expired/i;
/** Server errors that the same statement need not meet again. */
const TRANSIENT = /deadlock detected|could not serialize access|canceling statement due to (user request|conflict with recovery)/i;

/**
 * Whether retrying a failed pg_restore or psql load can help, and if not, what will. A broken connection, a
 * killed process or a deadlock can go away; a statement the target server refused (a missing role, a missing
 * extension, a full disk) fails the same way every time, so it fails the restore at once, saying what to change.
 */
export function explainLoadFailure(tool: 'pg_restore' | 'psql', what: string, stderr: string, exitCode: number | null, options?: LoadOptions): PgwardenError {
  const detail = stderr.split('\n').filter(Boolean).slice(-6).join('\n  ');
  const message = `${tool} failed loading ${what}${exitCode !== null ? ` (exit ${exitCode})` : ''}:\n  ${detail}`;
  // psql: 3 = a statement failed (ON_ERROR_STOP), 2 = the connection went bad, 1 = its own trouble (memory).
  const transient = exitCode === null || (tool === 'psql' && exitCode !== 3) || CONNECTION_TROUBLE.test(stderr) || TRANSIENT.test(stderr);
  if (transient) return new PgwardenError('Failed', message, { retryable: true });
  return new PgwardenError('Failed', `${message}\n${loadFailureHint(stderr, options)}`, { retryable: false });
}

function loadFailureHint(stderr: string, options: LoadOptions = { noOwner: false }): string {
  const command = /Command was: (.*)/.exec(stderr)?.[1] ?? '';
  const role = /role "([^"]+)" does not exist/.exec(stderr)?.[1];
  const extension = /extension "([^"]+)" is not available|could not open extension control file "[^"]*\/([^/"]+)\.control"/i.exec(stderr);
  const bothFlags = options.noOwner && options.noPrivileges;
  const fix = (() => {
    if (/^CREATE POLICY/.test(command)) {
      return `A row-level security policy of the backup names ${role ? `role "${role}"` : 'a role'} that the target server lacks: create that role there first (no option skips policies).`;
    }
    if (role || /^(GRANT|REVOKE|ALTER DEFAULT PRIVILEGES)\b|\bOWNER TO\b/.test(command)) {
      return bothFlags
        ? `The target server lacks ${role ? `role "${role}"` : 'a role'}, which the statement above names: create it there first (--no-owner and --no-privileges do not cover this statement).`
        : `The target server lacks ${role ? `role "${role}"` : 'a role'} that the backup's objects are owned by or granted to: create it there, or restore with ` +
            `--no-owner --no-privileges (the objects then belong to the restoring user, and no GRANTs are restored).`;
    }
    if (extension) return `Install the extension "${extension[1] ?? extension[2]}" on the target server (the version the source has, or newer), then restore again.`;
    return 'The target server refused a statement of the backup; trying again will not change that.';
  })();
  return `${fix} The restore was not retried; its staging database is dropped and nothing else was changed.`;
}

/** pg_restore reading a custom-format archive on stdin. */
export function pgRestoreStep(pgRestore: string, endpoint: PgEndpoint, options: LoadOptions, what: string): Step {
  return {
    command: pgRestore,
    args: ['--exit-on-error', '--no-password', `--dbname=${endpoint.database}`, ...restoreFlags(options)],
    env: loadEnv(endpoint),
    label: 'pg_restore',
    explain: (stderr, exitCode) => explainLoadFailure('pg_restore', what, stderr, exitCode, options),
  };
}

/** psql running a plain SQL dump from stdin; not quiet, so that each COPY reports its row count ("COPY 42"). */
export function psqlStep(psql: string, endpoint: PgEndpoint, what: string): Step {
  return {
    command: psql,
    args: ['-X', '-v', 'ON_ERROR_STOP=1', '--no-password', `--dbname=${endpoint.database}`],
    env: loadEnv(endpoint),
    label: 'psql',
    explain: (stderr, exitCode) => explainLoadFailure('psql', what, stderr, exitCode),
  };
}

/** The row counts the server reported for each COPY, in order: what was actually loaded. */
export function copyCounts(psqlOutput: string): number[] {
  return [...psqlOutput.matchAll(/^COPY (\d+)$/gm)].map((m) => Number(m[1]));
}

/** A database name pgwarden will create: plain enough for every tool and shell on the way. */
/** `what` names the value as the caller typed it: the JSON field and the CLI flag (`"target" (--into)`). */
export function checkDatabaseName(name: string, what: string): void {
  if (!/^[A-Za-z_][A-Za-z0-9_-]{0,62}$/.test(name)) {
    throw new PgwardenError('Usage', `${what} "${name}" is not a database name pgwarden creates: use letters, digits, _ and -, starting with a letter, at most 63 characters.`);
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
