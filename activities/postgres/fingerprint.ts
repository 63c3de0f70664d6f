// A fingerprint of each table's contents: equal fingerprints mean equal rows, whatever their physical order.
import type pg from 'pg';

export interface TableFingerprint {
  rows: number;
  /** Sum over rows of 60 bits of md5(row as text): order-independent, bounded memory. */
  hash: string;
}

export async function tableFingerprints(client: pg.Client, tables: string[]): Promise<Map<string, TableFingerprint>> {
  const result = new Map<string, TableFingerprint>();
  for (const table of tables) {
    const { rows } = await client.query<{ n: string; h: string | null }>(
      `SELECT count(*)::text AS n, sum(('x' || substr(md5(t::text), 1, 15))::bit(60)::bigint)::text AS h FROM ONLY ${table} t`,
    );
    result.set(table, { rows: Number(rows[0]!.n), hash: rows[0]!.h ?? '0' });
  }
  return result;
}
