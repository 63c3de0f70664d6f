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
  blocks: number; // heap blocks (pg_relation_size / block_size): where ctid ranges can split it
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
  const { rows } = await client.query<{ schema: string; table: string; bytes: string; blocks: string; name: string }>(
    `SELECT n.nspname AS schema, c.relname AS table, pg_table_size(c.oid)::text AS bytes,
            (pg_relation_size(c.oid) / current_setting('block_size')::int)::text AS blocks,
            quote_ident(n.nspname) || '.' || quote_ident(c.relname) AS name
       FROM pg_class c
       JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind = 'r'
        AND n.nspname NOT IN ('pg_catalog', 'information_schema')
        AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'
        AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
      ORDER BY pg_table_size(c.oid) DESC, 1, 2`,
  );
  return rows.map((r) => ({ name: r.name, schema: r.schema, table: r.table, bytes: Number(r.bytes), blocks: Number(r.blocks) }));
}

/** pg_dump's -t/-T patterns treat * ? . specially unless double-quoted: quote both parts. */
export function exactTablePattern(table: Pick<TableInfo, 'schema' | 'table'>): string {
  return `${quoteIdent(table.schema)}.${quoteIdent(table.table)}`;
}

/** The columns COPY carries (stored, not dropped, not generated), quoted, in table order: as pg_dump lists them. */
export async function copyColumns(client: pg.Client, tables: TableInfo[]): Promise<Map<string, string[]>> {
  const { rows } = await client.query<{ name: string; columns: string[] }>(
    `SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname) AS name,
            coalesce(array_agg(quote_ident(a.attname) ORDER BY a.attnum) FILTER (WHERE a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''), '{}') AS columns
       FROM unnest($1::text[], $2::text[]) AS t(schema, "table")
       JOIN pg_namespace n ON n.nspname = t.schema
       JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = t."table"
       JOIN pg_attribute a ON a.attrelid = c.oid
      GROUP BY 1`,
    [tables.map((t) => t.schema), tables.map((t) => t.table)],
  );
  return new Map(rows.map((r) => [r.name, r.columns]));
}

/** Extensions installed in the database (what a restore onto a managed server must be allowed to create). */
export async function listExtensions(client: pg.Client): Promise<Array<{ name: string; schema: string; version: string }>> {
  const { rows } = await client.query<{ name: string; schema: string; version: string }>(
    `SELECT e.extname AS name, n.nspname AS schema, e.extversion AS version
       FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname <> 'plpgsql' ORDER BY 1`,
  );
  return rows;
}
