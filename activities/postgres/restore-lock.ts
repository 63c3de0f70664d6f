// One restore per database at a time, with or without Temporal: Temporal restores are one workflow id per
// database, and `restore --local` (for when Temporal is down) cannot see that. Both also hold an advisory lock
// on the server restores go to while they load and while they rename, so neither runs over the other.
import { createHash } from 'node:crypto';
import type pg from 'pg';
import { PgwardenError } from '../../domain/errors.js';
import type { PgEndpoint } from './connection.js';
import { connectMaintenance } from './load.js';
import { sleep } from '../sleep.js';

/** First key of pgwarden's advisory locks ("pgwr"); the second is a hash of the database's name in pgwarden.yaml. */
const LOCK_SPACE = 0x70677772;

export interface RestoreLock {
  release(): Promise<void>;
}

/**
 * Takes the restore lock of `database` for run `run` (the 8 characters that end its staging database's name),
 * or fails with Refused, naming who holds it. A session left by an earlier attempt of the same run (a worker
 * that was killed) is ended and the lock taken over.
 */
export async function lockRestores(endpoint: PgEndpoint, database: string, run: string): Promise<RestoreLock> {
  const owner = `pgwarden restore run ${run}`;
  const client = await connectMaintenance(endpoint, `restore run ${run}`);
  const key = lockKey(database);
  try {
    for (let attempt = 1; ; attempt += 1) {
      const { rows } = await client.query<{ locked: boolean }>('SELECT pg_try_advisory_lock($1, $2) AS locked', [LOCK_SPACE, key]);
      if (rows[0]!.locked) break;
      const holders = await lockHolders(client, key);
      const earlier = holders.filter((h) => h.application_name === owner);
      if (attempt === 1 && earlier.length > 0 && earlier.length === holders.length) {
        for (const h of earlier) await client.query('SELECT pg_terminate_backend($1)', [h.pid]);
        await sleep(200); // the ended session lets go of its lock
        continue;
      }
      const who = holders.map((h) => `"${h.application_name || 'unnamed session'}"${h.client_addr ? ` from ${h.client_addr}` : ''} since ${h.since}`).join(', ');
      throw new PgwardenError(
        'Refused',
        `A restore of "${database}" is already running on ${endpoint.display} (${who || 'a session that just ended'}): one restore per database at a time, ` +
          `through Temporal or with --local. Nothing was changed. Wait for it to finish, then run this one again.`,
      );
    }
  } catch (error) {
    await client.end().catch(() => undefined);
    throw error;
  }
  return {
    release: async () => {
      await client.query('SELECT pg_advisory_unlock($1, $2)', [LOCK_SPACE, key]).catch(() => undefined);
      await client.end().catch(() => undefined);
    },
  };
}

/** Holds the lock while `work` runs. */
export async function withRestoreLock<T>(endpoint: PgEndpoint, database: string, run: string, work: () => Promise<T>): Promise<T> {
  const lock = await lockRestores(endpoint, database, run);
  try {
    return await work();
  } finally {
    await lock.release();
  }
}

function lockKey(database: string): number {
  return createHash('sha256').update(database).digest().readInt32BE(0);
}

async function lockHolders(client: pg.Client, key: number): Promise<Array<{ pid: number; application_name: string; client_addr: string | null; since: string }>> {
  const { rows } = await client.query<{ pid: number; application_name: string; client_addr: string | null; since: string }>(
    `SELECT a.pid, a.application_name, host(a.client_addr) AS client_addr, to_char(a.backend_start, 'YYYY-MM-DD HH24:MI:SS TZ') AS since
       FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
      WHERE l.locktype = 'advisory' AND l.granted AND l.classid = $1::bigint::oid AND l.objid = ($2::bigint & 4294967295)::oid AND l.objsubid = 2`,
    [LOCK_SPACE, key],
  );
  return rows;
}
