// Giving a verified restored database the target's name: both renames in one transaction, the sessions on both
// databases ended first, the replaced database kept under another name, never dropped.
import type pg from 'pg';
import { PgwardenError } from '../../domain/errors.js';
import { quoteIdent, type PgEndpoint } from './connection.js';
import { connectMaintenance } from './load.js';
import { sleep } from '../sleep.js';

export interface SwapInput {
  staging: string;
  target: string;
  replaceExisting?: string;
  /** Suffix of the name the replaced database keeps ("20261125T031500Z"). */
  keepSuffix: string;
  /** The staging database's comment: how a retry knows the restored copy by its new name. */
  provenance?: string;
}

/** "<target>_before_<suffix>": the name a replaced database keeps. */
function keptName(target: string, keepSuffix: string): string {
  return `${target.slice(0, 40)}_before_${keepSuffix}`;
}

/**
 * The swap. ALTER DATABASE … RENAME runs inside a transaction, so both renames commit together or not at all;
 * a retry reads back what the last attempt did. Sessions on both databases are ended first (applications
 * reconnect at once, so it keeps ending them until the renames hold their locks); one the restore user may not
 * end stops the swap before anything changed.
 */
export async function swapIn(endpoint: PgEndpoint, input: SwapInput): Promise<{ previousDatabaseKeptAs?: string }> {
  const { staging, target } = input;
  const keptAs = keptName(target, input.keepSuffix);
  const replacing = input.replaceExisting === target;
  const client = await connectMaintenance(endpoint, 'restore publish');
  try {
    // Waiting on a lock holds production's sessions off; failing (nothing changed) and retrying is better.
    await client.query(`SET lock_timeout = '5s'`);
    const found = await databaseStates(client, [staging, target, keptAs]);

    if (!found.has(staging)) {
      const current = found.get(target);
      // A retry after the commit: the restored copy (known by its provenance) has the target's name.
      if (current && (input.provenance === undefined || current.comment === input.provenance)) {
        return replacing && found.has(keptAs) ? { previousDatabaseKeptAs: keptAs } : {};
      }
      throw new PgwardenError('Failed', `The restored staging database "${staging}" has disappeared before it was renamed to "${target}": run the restore again.`, { retryable: false });
    }
    const old = found.get(target);
    if (old && !replacing) {
      throw new PgwardenError('Refused', `Database "${target}" appeared on ${endpoint.display} during the restore: the restored copy was discarded, nothing else was changed.`);
    }
    if (old && found.has(keptAs)) {
      throw new PgwardenError(
        'Refused',
        `Database "${keptAs}", the name the replaced "${target}" would keep, already exists on ${endpoint.display}: nothing was changed. Rename or drop it, then restore again.`,
      );
    }

    const oids = [found.get(staging)!.oid, ...(old ? [old.oid] : [])];
    const stuck = await endSessions(client, oids);
    if (stuck.length) {
      throw new PgwardenError(
        'Failed',
        `Cannot swap the restored database in on ${endpoint.display}: ${stuck.join('; ')}. Nothing was changed: "${target}" is as it was. ` +
          'End those sessions (or let the restore user end them: superuser, or a member of pg_signal_backend and not ending a superuser), then restore again.',
        { retryable: false },
      );
    }
    const sweeper = keepEndingSessions(endpoint, oids);
    try {
      await client.query('BEGIN');
      if (old) await renameDatabase(client, target, keptAs);
      await renameDatabase(client, staging, target);
      await sweeper.stop(); // before the commit: after it, the target's name belongs to the restored copy
      await client.query('COMMIT');
    } catch (error) {
      await sweeper.stop();
      await client.query('ROLLBACK').catch(() => undefined);
      throw new PgwardenError(
        'Failed',
        `Could not ${old ? `rename "${target}" to "${keptAs}" and ` : ''}rename the restored database "${staging}" to "${target}" on ${endpoint.display}: ` +
          `${(error as Error).message}. Nothing was changed${old ? `: "${target}" is as it was` : ''}.`,
        { cause: error },
      );
    }
    return old ? { previousDatabaseKeptAs: keptAs } : {};
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function databaseStates(client: pg.Client, names: string[]): Promise<Map<string, { oid: number; comment: string | null }>> {
  const { rows } = await client.query<{ datname: string; oid: number; comment: string | null }>(
    `SELECT datname, oid::int8 AS oid, shobj_description(oid, 'pg_database') AS comment FROM pg_database WHERE datname = ANY($1)`,
    [names],
  );
  return new Map(rows.map((r) => [r.datname, { oid: Number(r.oid), comment: r.comment }]));
}

async function renameDatabase(client: pg.Client, from: string, to: string): Promise<void> {
  await client.query(`ALTER DATABASE ${quoteIdent(from)} RENAME TO ${quoteIdent(to)}`);
}

/**
 * Ends the other sessions on the databases `oids` (they take a moment to go, which the renames wait for); returns,
 * in words, what cannot be ended: sessions the restore user may not end, prepared transactions.
 */
async function endSessions(client: pg.Client, oids: number[]): Promise<string[]> {
  const stuck: string[] = [];
  const { rows } = await client.query<{ pid: number; who: string }>(
    `SELECT pid, format('a session of %s (pid %s) on "%s"', usename, pid, datname) AS who FROM pg_stat_activity WHERE datid = ANY($1::oid[]) AND pid <> pg_backend_pid()`,
    [oids],
  );
  for (const row of rows) {
    await client.query('SELECT pg_terminate_backend($1)', [row.pid]).catch((error: unknown) => stuck.push(`${row.who} cannot be ended: ${(error as Error).message}`));
  }
  const prepared = await client.query<{ who: string }>(
    `SELECT format('prepared transaction %L of %s holds "%s"', gid, owner, database) AS who FROM pg_prepared_xacts p JOIN pg_database d ON d.datname = p.database WHERE d.oid = ANY($1::oid[])`,
    [oids],
  );
  return [...stuck, ...prepared.rows.map((r) => `${r.who}: COMMIT PREPARED or ROLLBACK PREPARED it`)];
}

/** Ends sessions that connect to the databases `oids` until stop(): the renames wait for those to leave. */
function keepEndingSessions(endpoint: PgEndpoint, oids: number[]): { stop(): Promise<void> } {
  let stopped = false;
  const sweeping = (async () => {
    const client = await connectMaintenance(endpoint, 'restore publish sweeper').catch(() => undefined);
    try {
      while (client && !stopped) {
        await client
          .query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datid = ANY($1::oid[]) AND pid <> pg_backend_pid()', [oids])
          .catch(() => undefined);
        await sleep(50);
      }
    } finally {
      await client?.end().catch(() => undefined);
    }
  })();
  return {
    async stop() {
      stopped = true;
      await sweeping;
    },
  };
}

/** Replacing a database renames it, which only its owner (or a superuser) may: checked before the long restore. */
export async function checkMayReplace(client: pg.Client, target: string, display: string): Promise<void> {
  const { rows } = await client.query<{ may: boolean; owner: string; who: string }>(
    `SELECT pg_has_role(current_user, datdba, 'USAGE') OR (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) AS may,
            pg_get_userbyid(datdba) AS owner, current_user AS who
       FROM pg_database WHERE datname = $1`,
    [target],
  );
  const row = rows[0];
  if (row && !row.may) {
    throw new PgwardenError(
      'Refused',
      `Database "${target}" on ${display} belongs to role "${row.owner}"; user "${row.who}" may not rename it, so it cannot replace it: nothing was changed. ` +
        `Restore with a user that is "${row.owner}" (or a member of it) or a superuser, or restore into a new name.`,
    );
  }
}
