// What a database holds, as far as planning a backup or checking a restore needs to know.
import type pg from 'pg';
import { quoteIdent } from './connection.js';

export interface ServerInfo {
  version: string; // "15.18 (Debian 15.18-0+deb12u1)"
  versionNum: number; // 150018
  major: number; // 15
  systemIdentifier: string; // pg_control_system().system_identifier, as text
}

export interface DatabaseInfo {
  name: string;
  encoding: string;
  collate: string;
  ctype: string;
}

export interface TableInfo {
  /** Qualified, quoted where needed: public.users, public."Order". The same spelling pg_dump uses. */
  name: string;
  schema: string;
  table: string;
  bytes: number; // pg_table_size: heap + TOAST
}

export async function serverInfo(client: pg.Client): Promise<ServerInfo> {
  const { rows } = await client.query<{ version: string; num: string; sysid: string }>(
    `SELECT current_setting('server_version') AS version, current_setting('server_version_num') AS num,
            (SELECT system_identifier::text FROM pg_control_system()) AS sysid`,
  );
  const row = rows[0]!;
  const num = Number(row.num);
  return { version: row.version, versionNum: num, major: Math.floor(num / 10_000), systemIdentifier: row.sysid };
}

export async function databaseInfo(client: pg.Client): Promise<DatabaseInfo> {
  const { rows } = await client.query<DatabaseInfo>(
    `SELECT datname AS name, pg_encoding_to_char(encoding) AS encoding, datcollate AS collate, datctype AS ctype
       FROM pg_database WHERE datname = current_database()`,
  );
  return rows[0]!;
}

/** Ordinary tables (and partitions) whose data pg_dump dumps: user schemas, not extension members. */
export async function listTables(client: pg.Client): Promise<TableInfo[]> {
  const { rows } = await client.query<{ schema: string; table: string; bytes: string; name: string }>(
    `SELECT n.nspname AS schema, c.relname AS table, pg_table_size(c.oid)::text AS bytes,
            quote_ident(n.nspname) || '.' || quote_ident(c.relname) AS name
       FROM pg_class c
       JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind = 'r'
        AND n.nspname NOT IN ('pg_catalog', 'information_schema')
        AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'
        AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
      ORDER BY pg_table_size(c.oid) DESC, 1, 2`,
  );
  return rows.map((r) => ({ name: r.name, schema: r.schema, table: r.table, bytes: Number(r.bytes) }));
}

/** pg_dump's -t/-T patterns treat * ? . specially unless double-quoted: quote both parts. */
export function exactTablePattern(table: Pick<TableInfo, 'schema' | 'table'>): string {
  return `${quoteIdent(table.schema)}.${quoteIdent(table.table)}`;
}

/** Exact row counts, one query per table, `jobs` at a time over separate connections. */
export async function countRows(clients: pg.Client[], tables: string[]): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  const queue = [...tables];
  await Promise.all(
    clients.map(async (client) => {
      for (let table = queue.shift(); table !== undefined; table = queue.shift()) {
        const { rows } = await client.query<{ n: string }>(`SELECT count(*)::text AS n FROM ONLY ${table}`);
        counts.set(table, Number(rows[0]!.n));
      }
    }),
  );
  return counts;
}
