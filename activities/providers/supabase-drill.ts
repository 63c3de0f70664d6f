// The restore drill of a Supabase database: a Supabase backup restores only into a fresh project (never into a
// new database), so the drill loads the latest backup into the fresh project of restoreConnection (or
// drill.connection) exactly as a restore does, in one transaction, runs the row-count check and the assertions
// inside that transaction, and rolls it back. A rollback does not undo setval(): the positions of the project's
// own sequences are read when the drill is planned (so they are in the workflow's history) and put back after the
// load, whichever way it ended, also by a later attempt or the workflow's clean-up if the worker died.
import type pg from 'pg';
import { PgwardenError } from '../../domain/errors.js';
import { databaseView } from '../../config/load.js';
import type { DrillAssertion } from '../../config/monitoring.js';
import type { Config } from '../../config/schema.js';
import type { AssertionOutcome } from '../../domain/verify.js';
import { backupFolder, readManifest, type BackupManifest } from '../catalog/manifest.js';
import { connect, quoteIdent, type PgEndpoint } from '../postgres/connection.js';
import { openRepository } from '../storage/open.js';
import { assertionName, subquery } from '../drill/assertions.js';
import { dumpEndpoint, restoreTarget } from './source.js';
import { checkFreshProject } from './supabase-fresh-check.js';
import { loadIntoFreshProject } from './supabase-restore.js';
import { resetSequences, type SequencePosition } from './supabase-sequences.js';

/** What planDrill records for a drill in a fresh project: the backup's repository, the sequences to put back. */
export interface FreshProjectDrillPlan {
  repository: string;
  sequences: SequencePosition[];
}

export interface FreshProjectDrillInput extends FreshProjectDrillPlan {
  database: string;
  backupId: string;
}

export interface FreshProjectDrillOutcome {
  restoreMs: number;
  tables: number;
  rows: number;
  rowCountsMatch: boolean;
  /** The first tables whose rows differ from the manifest's count, as "table: n of m". */
  mismatches: string[];
  assertions: AssertionOutcome[];
}

export function freshProjectDrillActivities(config: Config) {
  return {
    /** Loads the backup into the fresh project, checks it there, rolls back, and puts the sequences back. */
    async drillFreshProject(input: FreshProjectDrillInput): Promise<FreshProjectDrillOutcome> {
      const endpoint = await restoreTarget(config, input.database, 'drill');
      await resetSequences(endpoint, input.sequences); // an attempt before this one may have died mid-load
      const manifest = await readManifest(openRepository(config, input.repository), backupFolder(input.database, 'logical', input.backupId));
      if (!manifest) throw new PgwardenError('NotFound', `Backup ${input.backupId} of "${input.database}" has no manifest in repository "${input.repository}".`);
      await checkFreshProject(config, manifest, endpoint);
      const settings = databaseView(config, input.database).settings.drill;
      const assertions = settings?.assertions ?? [];
      const timeoutMs = settings?.assertionTimeout ?? 300_000;
      const source = assertions.some((a) => a.equalsSource) ? await sourceDigests(await dumpEndpoint(config, input.database), assertions, timeoutMs) : new Map<number, Digest | string>();
      try {
        const loaded = await loadIntoFreshProject(
          config,
          { database: input.database, backupId: input.backupId, repository: input.repository, target: endpoint },
          { checks: (m) => drillChecks(m, assertions, timeoutMs), end: 'ROLLBACK' },
        );
        return { restoreMs: loaded.loadMs, ...outcome(manifest, assertions, loaded.results, source) };
      } finally {
        await resetSequences(endpoint, input.sequences);
      }
    },

    /** The drill's clean-up: sequence positions as the plan found them (the load itself was rolled back). */
    async resetDrillSequences(input: { database: string; sequences: SequencePosition[] }): Promise<{ reset: string[] }> {
      return { reset: await resetSequences(await restoreTarget(config, input.database, 'drill'), input.sequences) };
    },
  };
}

interface Digest {
  rows: number;
  md5: string;
}

/**
 * SQL run inside the drill's transaction after the load: each table's row count, then (read-only, each bounded by
 * the assertion timeout, an error caught as that assertion's failure) the assertions' counts and digests, printed
 * as "pgwarden-…" lines.
 */
function drillChecks(manifest: BackupManifest, assertions: DrillAssertion[], timeoutMs: number): string {
  const tables = Object.keys(manifest.tables);
  const lines = [
    `CREATE FUNCTION pg_temp.pgwarden_count(t text) RETURNS bigint LANGUAGE plpgsql AS $pgwarden$ DECLARE n bigint; BEGIN EXECUTE 'SELECT count(*) FROM ONLY ' || t INTO n; RETURN n; END $pgwarden$;`,
    `CREATE FUNCTION pg_temp.pgwarden_assert(q text) RETURNS text LANGUAGE plpgsql AS $pgwarden$ DECLARE n bigint; h text; BEGIN EXECUTE q INTO n, h; RETURN 'ok' || E'\\t' || n || E'\\t' || coalesce(h, ''); ` +
      `EXCEPTION WHEN query_canceled OR others THEN RETURN 'error' || E'\\t' || translate(SQLERRM, E'\\t\\n', '  '); END $pgwarden$;`,
  ];
  if (tables.length) lines.push(`SELECT 'pgwarden-count' || E'\\t' || t || E'\\t' || pg_temp.pgwarden_count(t) FROM unnest(${literal(`{${tables.map((t) => `"${t.replace(/["\\]/g, '\\$&')}"`).join(',')}}`)}::text[]) AS t;`);
  lines.push('SET TRANSACTION READ ONLY;');
  assertions.forEach((a, i) => {
    lines.push(`SET LOCAL statement_timeout = ${Math.round(timeoutMs)};`, `SELECT 'pgwarden-assertion' || E'\\t' || ${i} || E'\\t' || pg_temp.pgwarden_assert(${literal(assertionSql(a))});`, 'SET LOCAL statement_timeout = 0;');
  });
  return `${lines.join('\n')}\n`;
}

/** One row (n: a count, h: an md5 or NULL): the same query on the drill's load and on the source. */
function assertionSql(a: DrillAssertion): string {
  if (a.equalsSource) return `SELECT count(*)::bigint AS n, md5(coalesce(string_agg(r, E'\\n' ORDER BY r), '')) AS h FROM (SELECT q::text AS r FROM (${subquery(a.sql!)}) AS q) AS t`;
  if (a.table) return `SELECT count(*)::bigint AS n, NULL::text AS h FROM ${a.table.split('.').map(quoteIdent).join('.')}`;
  return `SELECT count(*)::bigint AS n, NULL::text AS h FROM (${subquery(a.sql!)}) AS assertion`;
}

/** The equalsSource assertions' digests on the source, read-only and bounded in time (an error is that assertion's). */
async function sourceDigests(source: PgEndpoint, assertions: DrillAssertion[], timeoutMs: number): Promise<Map<number, Digest | string>> {
  const digests = new Map<number, Digest | string>();
  const wanted = [...assertions.entries()].filter(([, a]) => a.equalsSource);
  let live: pg.Client;
  try {
    live = await connect(source, 'drill assertions (source)');
  } catch (error) {
    for (const [i] of wanted) digests.set(i, `the source could not be read: ${(error as Error).message.split('\n')[0]}`);
    return digests;
  }
  try {
    for (const [i, a] of wanted) {
      try {
        await live.query('BEGIN READ ONLY');
        await live.query(`SET LOCAL statement_timeout = ${Math.round(timeoutMs)}`);
        const row = (await live.query<{ n: string; h: string }>(assertionSql(a))).rows[0]!;
        digests.set(i, { rows: Number(row.n), md5: row.h });
      } catch (error) {
        digests.set(i, `query failed on the source: ${(error as Error).message.split('\n')[0]}`);
      } finally {
        await live.query('ROLLBACK').catch(() => undefined);
      }
    }
  } finally {
    await live.end().catch(() => undefined);
  }
  return digests;
}

/** The drill's result from the lines its checks printed. */
function outcome(manifest: BackupManifest, assertions: DrillAssertion[], results: string[], source: Map<number, Digest | string>): Omit<FreshProjectDrillOutcome, 'restoreMs'> {
  const counted = new Map<string, number>();
  const asserted = new Map<number, string[]>();
  for (const line of results) {
    const [kind, key, ...rest] = line.split('\t');
    if (kind === 'pgwarden-count') counted.set(key!, Number(rest[0]));
    if (kind === 'pgwarden-assertion') asserted.set(Number(key), rest);
  }
  const expected = Object.entries(manifest.tables);
  const mismatches = expected.filter(([table, n]) => counted.get(table) !== n).map(([table, n]) => `${table}: ${counted.get(table) ?? 'not counted'} of ${n}`);
  const outcomes = assertions.map((a, i): AssertionOutcome => {
    const name = assertionName(a);
    const [status, n, md5] = asserted.get(i) ?? ['error', 'the drill printed no result'];
    if (status !== 'ok') return { name, passed: false, detail: `query failed: ${n}` };
    const rows = Number(n);
    if (!a.equalsSource) return { name, passed: rows >= a.minRows!, detail: `${rows} row(s), at least ${a.minRows} required` };
    const theirs = source.get(i);
    if (typeof theirs !== 'object') return { name, passed: false, detail: theirs ?? 'the source was not read' };
    const same = rows === theirs.rows && md5 === theirs.md5;
    return { name, passed: same, detail: same ? `same ${rows} row(s) as the source` : `${rows} row(s) (md5 ${md5!.slice(0, 8)}), the source has ${theirs.rows} (md5 ${theirs.md5.slice(0, 8)})` };
  });
  return {
    tables: expected.length,
    rows: [...counted.values()].reduce((sum, n) => sum + n, 0),
    rowCountsMatch: mismatches.length === 0,
    mismatches: mismatches.slice(0, 20),
    assertions: outcomes,
  };
}

function literal(text: string): string {
  return `'${text.replace(/'/g, "''")}'`;
}
