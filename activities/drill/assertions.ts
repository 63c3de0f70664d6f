// A drill's assertions against the restored copy: read-only, bounded in time, and rows never leave the server
// (counts and an md5 of the rows, compared with the source's where an assertion asks for it).
import type pg from 'pg';
import type { DrillAssertion } from '../../config/monitoring.js';
import type { AssertionOutcome } from '../../domain/verify.js';
import { connect, quoteIdent, type PgEndpoint } from '../postgres/connection.js';

/** Runs each assertion on `drill` (and, for equalsSource, on `source`); a failing query fails only its assertion. */
export async function runAssertions(assertions: DrillAssertion[], drill: PgEndpoint, source: PgEndpoint, timeoutMs: number): Promise<AssertionOutcome[]> {
  const outcomes: AssertionOutcome[] = [];
  const restored = await connect(drill, 'drill assertions');
  let live: pg.Client | undefined;
  try {
    for (const assertion of assertions) {
      const name = assertionName(assertion);
      try {
        if (assertion.equalsSource) {
          live ??= await connect(source, 'drill assertions (source)');
          const [mine, theirs] = [await digest(restored, assertion.sql!, timeoutMs), await digest(live, assertion.sql!, timeoutMs)];
          const same = mine.rows === theirs.rows && mine.md5 === theirs.md5;
          outcomes.push({
            name,
            passed: same,
            detail: same ? `same ${mine.rows} row(s) as the source` : `${mine.rows} row(s) (md5 ${mine.md5.slice(0, 8)}), the source has ${theirs.rows} (md5 ${theirs.md5.slice(0, 8)})`,
          });
        } else {
          const rows = await countRows(restored, assertion, timeoutMs);
          const min = assertion.minRows!;
          outcomes.push({ name, passed: rows >= min, detail: `${rows} row(s), at least ${min} required` });
        }
      } catch (error) {
        outcomes.push({ name, passed: false, detail: `query failed: ${(error as Error).message.split('\n')[0]}` });
      }
    }
  } finally {
    await restored.end().catch(() => undefined);
    await live?.end().catch(() => undefined);
  }
  return outcomes;
}

/** How a drill names an assertion: its name, or what it checks. */
export function assertionName(a: DrillAssertion): string {
  if (a.name) return a.name;
  if (a.table) return `${a.table} has at least ${a.minRows} row(s)`;
  const sql = a.sql!.replace(/\s+/g, ' ').trim();
  return sql.length > 70 ? `${sql.slice(0, 67)}…` : sql;
}

/** The query without a trailing semicolon, to be wrapped as a subquery. */
export function subquery(sql: string): string {
  return sql.trim().replace(/;\s*$/, '');
}

function qualified(table: string): string {
  return table.split('.').map(quoteIdent).join('.');
}

/** Read-only, bounded in time: an assertion can neither change the drill database nor hang the drill. */
async function readOnly<T>(client: pg.Client, timeoutMs: number, run: () => Promise<T>): Promise<T> {
  await client.query('BEGIN READ ONLY');
  try {
    await client.query(`SET LOCAL statement_timeout = ${Math.round(timeoutMs)}`);
    return await run();
  } finally {
    await client.query('ROLLBACK').catch(() => undefined);
  }
}

async function countRows(client: pg.Client, a: DrillAssertion, timeoutMs: number): Promise<number> {
  const sql = a.table ? `SELECT count(*)::bigint AS n FROM ${qualified(a.table)}` : `SELECT count(*)::bigint AS n FROM (${subquery(a.sql!)}) AS assertion`;
  return readOnly(client, timeoutMs, async () => Number((await client.query<{ n: string }>(sql)).rows[0]!.n));
}

/** Row count and an order-independent md5 of the query's rows, computed by the server: no row reaches Node. */
async function digest(client: pg.Client, sql: string, timeoutMs: number): Promise<{ rows: number; md5: string }> {
  return readOnly(client, timeoutMs, async () => {
    const { rows } = await client.query<{ n: string; h: string | null }>(
      `SELECT count(*)::bigint AS n, md5(coalesce(string_agg(r, E'\\n' ORDER BY r), '')) AS h FROM (SELECT q::text AS r FROM (${subquery(sql)}) AS q) AS t`,
    );
    return { rows: Number(rows[0]!.n), md5: rows[0]!.h ?? '' };
  });
}
