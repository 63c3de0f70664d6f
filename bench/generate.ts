// Loads the benchmark database and measures how it compresses: a plain pg_dump through zstd -3.
import { createWriteStream } from 'node:fs';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { execa } from 'execa';
import pg from 'pg';
import { libpqEnv, pgEndpoint } from '../activities/postgres/connection.js';
import { BENCH_SCHEMA, BENCH_TABLES, benchDataStatements } from './data.js';
import { log, now } from './util.js';

/**
 * pg_database_size per order with this generator, and of an empty database (the catalogs), measured on
 * PostgreSQL 15 after VACUUM: 37,453 orders made 104.3 MB, 359,712 orders 923.1 MB.
 */
export const DATABASE_BYTES_PER_ORDER = 2_545;
export const EMPTY_DATABASE_BYTES = 7_600_000;

export function ordersForSize(sizeMb: number): number {
  return Math.max(1000, Math.round((sizeMb * 1_000_000 - EMPTY_DATABASE_BYTES) / DATABASE_BYTES_PER_ORDER));
}

/** Creates the schema and fills it with `parallel` connections; VACUUM FREEZE so no autovacuum runs during the measurements. */
export async function loadBenchData(url: string, orders: number, parallel = 2): Promise<number> {
  const started = now();
  const clients = await Promise.all(
    Array.from({ length: parallel }, async () => {
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      return client;
    }),
  );
  try {
    await clients[0]!.query(BENCH_SCHEMA);
    for (const group of benchDataStatements(orders, parallel * 2)) {
      const queue = [...group];
      await Promise.all(
        clients.map(async (client) => {
          for (let sql = queue.shift(); sql !== undefined; sql = queue.shift()) await client.query(sql);
        }),
      );
    }
    const tables = [...BENCH_TABLES];
    await Promise.all(
      clients.map(async (client) => {
        for (let table = tables.shift(); table !== undefined; table = tables.shift()) await client.query(`VACUUM (FREEZE, ANALYZE) ${table}`);
      }),
    );
    await clients[0]!.query('CHECKPOINT');
  } finally {
    await Promise.all(clients.map((c) => c.end().catch(() => undefined)));
  }
  return now() - started;
}

export interface DatabaseSizes {
  /** pg_database_size of the benchmark database: tables, TOAST, indexes, free space map. */
  databaseBytes: number;
  /** Sum of pg_table_size over the user tables (heap + TOAST, no indexes). */
  tableBytes: number;
  indexBytes: number;
  /** Sum of pg_database_size over all databases of the cluster: what a physical backup copies. */
  clusterBytes: number;
  rows: Record<string, number>;
}

export async function databaseSizes(url: string): Promise<DatabaseSizes> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ db: string; tables: string; indexes: string; cluster: string }>(
      `SELECT pg_database_size(current_database()) AS db,
              (SELECT coalesce(sum(pg_table_size(c.oid)), 0) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE c.relkind IN ('r', 'm') AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%') AS tables,
              (SELECT coalesce(sum(pg_indexes_size(c.oid)), 0) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE c.relkind IN ('r', 'm') AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%') AS indexes,
              (SELECT sum(pg_database_size(oid)) FROM pg_database) AS cluster`,
    );
    const counts: Record<string, number> = {};
    for (const table of BENCH_TABLES) counts[table] = Number((await client.query<{ n: string }>(`SELECT count(*) AS n FROM ${table}`)).rows[0]!.n);
    const r = rows[0]!;
    return { databaseBytes: Number(r.db), tableBytes: Number(r.tables), indexBytes: Number(r.indexes), clusterBytes: Number(r.cluster), rows: counts };
  } finally {
    await client.end();
  }
}

export interface DumpRatio {
  /** Bytes of `pg_dump -Fp`. */
  plainBytes: number;
  /** The same through `zstd -3`. */
  zstdBytes: number;
  ratio: number;
  ms: number;
}

/** `pg_dump -Fp | zstd -3 > out`, counting both sides: the compressibility of the data, and a file to encrypt. */
export async function measureDumpRatio(pgBin: string, url: string, out: string): Promise<DumpRatio> {
  const started = now();
  const dump = execa(`${pgBin}/pg_dump`, ['-Fp'], { env: libpqEnv(pgEndpoint(url, 'bench')), stdout: 'pipe', buffer: false, stdin: 'ignore' });
  const zstd = execa('zstd', ['-q', '-3', '-T1', '-c'], { stdin: 'pipe', stdout: 'pipe', buffer: false });
  let plainBytes = 0;
  let zstdBytes = 0;
  const count = (add: (n: number) => void) =>
    new Transform({
      transform(chunk: Buffer, _encoding, done) {
        add(chunk.length);
        done(null, chunk);
      },
    });
  await Promise.all([
    pipeline(dump.stdout!, count((n) => (plainBytes += n)), zstd.stdin!),
    pipeline(zstd.stdout!, count((n) => (zstdBytes += n)), createWriteStream(out)),
    dump,
    zstd,
  ]);
  const ratio = plainBytes / zstdBytes;
  log(`pg_dump -Fp: ${(plainBytes / 1e6).toFixed(1)} MB; zstd -3: ${(zstdBytes / 1e6).toFixed(1)} MB; ratio ${ratio.toFixed(2)}:1`);
  return { plainBytes, zstdBytes, ratio, ms: now() - started };
}
