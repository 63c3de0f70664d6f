// Where a Supabase project's sequences stand, and putting them back: a rolled-back load does not undo setval().
import { connect, type PgEndpoint } from '../postgres/connection.js';

/** Where a sequence of the project stood before a load: last_value as text (bigint), is_called. */
export interface SequencePosition {
  name: string; // schema-qualified, quoted as needed
  lastValue: string;
  isCalled: boolean;
}

/** The positions of every sequence of the project that postgres can read and set (the only ones a load can move). */
export async function sequencePositions(endpoint: PgEndpoint): Promise<SequencePosition[]> {
  const client = await connect(endpoint, 'sequence positions');
  try {
    const { rows } = await client.query<{ name: string }>(
      `SELECT format('%I.%I', n.nspname, c.relname) AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind = 'S' AND has_table_privilege(c.oid, 'SELECT') AND has_table_privilege(c.oid, 'UPDATE') ORDER BY 1`,
    );
    const positions: SequencePosition[] = [];
    for (const { name } of rows) {
      const at = (await client.query<{ v: string; c: boolean }>(`SELECT last_value::text AS v, is_called AS c FROM ${name}`)).rows[0]!;
      positions.push({ name, lastValue: at.v, isCalled: at.c });
    }
    return positions;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Puts sequences back where the plan found them; those already there are left alone. Safe to repeat. */
export async function resetSequences(endpoint: PgEndpoint, positions: SequencePosition[]): Promise<string[]> {
  const client = await connect(endpoint, 'sequence positions');
  const reset: string[] = [];
  try {
    for (const p of positions) {
      if (!(await client.query<{ r: string | null }>('SELECT to_regclass($1)::text AS r', [p.name])).rows[0]!.r) continue;
      const now = (await client.query<{ v: string; c: boolean }>(`SELECT last_value::text AS v, is_called AS c FROM ${p.name}`)).rows[0]!;
      if (now.v === p.lastValue && now.c === p.isCalled) continue;
      await client.query('SELECT setval($1::regclass, $2::bigint, $3)', [p.name, p.lastValue, p.isCalled]);
      reset.push(p.name);
    }
    return reset;
  } finally {
    await client.end().catch(() => undefined);
  }
}
