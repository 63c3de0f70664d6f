// pg_dump invocations of a logical backup: schema before data, data in parallel streams, schema after data,
// all reading one exported snapshot so the pieces form one consistent dump.
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import type { Step } from '../pipeline/chain.js';
import { byteCountStep } from '../pipeline/measure.js';
import { execa, type ResultPromise } from 'execa';
import { PgwardenError } from '../../config/errors.js';
import { exactTablePattern, type TableInfo } from './inventory.js';

export const LOGICAL_FORMAT = 'pgwarden-logical-v1';

export interface DumpStream {
  /** File name inside the backup folder, before the .zst.gpg of compression and encryption. */
  name: string;
  role: 'pre-data' | 'data' | 'post-data';
  /** "custom" is read by pg_restore, "plain" (SQL) by psql. */
  format: 'custom' | 'plain';
  /** pg_dump's arguments; absent for a chunk, which psql copies out itself. */
  args: string[];
  /** One block range of a large table (PostgreSQL 14+: a TID range scan reads only those blocks). */
  chunk?: { table: TableInfo; fromBlock: number; toBlock?: number };
  /** Tables whose rows this stream holds; the rest stream lists them as it finds them. */
  tables: string[];
  /** Estimated bytes (table sizes on disk), to order work and show progress. */
  estimatedBytes: number;
}

export interface StreamPlan {
  /** Tables at least this large get a stream of their own. */
  splitBytes: number;
  /** Tables larger than this are split by block ranges into chunks of about this size (0: never). */
  chunkBytes: number;
  serverMajor: number;
  /** A managed project's user part (Supabase): schemas and data the platform owns are left out. */
  scope?: { schemaExcludes: string[]; dataExcludes: string[]; dataExcludeTables: string[] };
}

/**
 * Large tables get streams of their own, and the largest are cut into block ranges, so that backup and restore
 * run in parallel even when one table is most of the database (pg_dump -j parallelizes only across tables).
 * The other tables, sequences and large objects share one stream. Schema comes as pg_dump custom archives, so
 * a restore can still choose --no-owner; data as plain COPY, so rows can be counted as they stream.
 */
export function planDumpStreams(tables: TableInfo[], plan: StreamPlan): DumpStream[] {
  const big = tables.filter((t) => t.bytes >= plan.splitBytes && plan.splitBytes > 0).sort((a, b) => b.bytes - a.bytes);
  const rest = tables.filter((t) => !big.includes(t));
  const pad = (n: number) => String(n).padStart(4, '0');
  const data: DumpStream[] = [];
  for (const table of big) {
    const pieces = plan.chunkBytes > 0 && plan.serverMajor >= 14 && table.blocks > 1 ? Math.min(table.blocks, Math.ceil(table.bytes / plan.chunkBytes)) : 1;
    if (pieces <= 1) {
      data.push({ name: '', role: 'data', format: 'plain', args: ['--format=plain', '--section=data', `--table=${exactTablePattern(table)}`], tables: [table.name], estimatedBytes: table.bytes });
      continue;
    }
    for (let i = 0; i < pieces; i += 1) {
      const fromBlock = Math.floor((table.blocks * i) / pieces);
      const toBlock = i === pieces - 1 ? undefined : Math.floor((table.blocks * (i + 1)) / pieces); // the last is open-ended
      data.push({
        name: '',
        role: 'data',
        format: 'plain',
        args: [],
        chunk: { table, fromBlock, ...(toBlock !== undefined ? { toBlock } : {}) },
        tables: [table.name],
        estimatedBytes: Math.round(table.bytes / pieces),
      });
    }
  }
  data.forEach((stream, i) => (stream.name = `data-${pad(i + 1)}.sql`));
  const schemaScope = (plan.scope?.schemaExcludes ?? []).map((s) => `--exclude-schema=${s}`);
  const dataScope = [...(plan.scope?.dataExcludes ?? []).map((s) => `--exclude-schema=${s}`), ...(plan.scope?.dataExcludeTables ?? []).map((t) => `--exclude-table-data=${t}`)];
  return [
    { name: 'pre-data.pgdump', role: 'pre-data', format: 'custom', args: ['--format=custom', '--compress=0', '--section=pre-data', ...schemaScope], tables: [], estimatedBytes: 0 },
    ...data,
    {
      name: `data-${pad(0)}.sql`,
      role: 'data',
      format: 'plain',
      args: ['--format=plain', '--section=data', ...dataScope, ...big.map((table) => `--exclude-table-data=${exactTablePattern(table)}`)],
      tables: rest.map((t) => t.name),
      estimatedBytes: rest.reduce((sum, t) => sum + t.bytes, 0),
    },
    { name: 'post-data.pgdump', role: 'post-data', format: 'custom', args: ['--format=custom', '--compress=0', '--section=post-data', ...schemaScope], tables: [], estimatedBytes: 0 },
  ];
}

export interface RunningDump {
  /** pg_dump's output; it ends only after pg_dump exited successfully, and errors otherwise. */
  output: Readable;
  child: ResultPromise;
}

export function startPgDump(
  pgDump: string,
  stream: DumpStream,
  snapshot: string,
  env: Record<string, string>,
  signal?: AbortSignal,
): RunningDump {
  const child = execa(pgDump, [...stream.args, `--snapshot=${snapshot}`, '--no-password', '--lock-wait-timeout=300000'], {
    env,
    stdin: 'ignore',
    stdout: 'pipe',
    stderr: 'pipe',
    buffer: { stdout: false, stderr: true },
    ...(signal ? { cancelSignal: signal } : {}),
  });
  child.catch(() => undefined); // reported through `output`
  const output = child.readable({ from: 'stdout' });
  return { output, child };
}

export interface ChunkReport {
  /** Rows the server copied out (psql's "COPY n"). */
  rows?: number;
  /** Bytes of COPY text produced so far (dd counts them as they pass). */
  bytes: number;
}

/**
 * The processes that copy one block range of a table out: psql in the backup's snapshot, with pg_dump's session
 * settings, framing the rows as the plain SQL pg_dump writes for a table's data (psql, or the emergency script,
 * loads it as it is); then dd, which counts the bytes on their way into zstd. The rows never pass through Node;
 * psql reports the row count in a file of command tags.
 */
export function chunkCopySteps(
  psql: string,
  stream: DumpStream,
  columns: string[],
  encoding: string,
  snapshot: string,
  env: Record<string, string>,
  report: ChunkReport,
): Step[] {
  const chunk = stream.chunk!;
  const range = `ctid >= '(${chunk.fromBlock},0)'::tid${chunk.toBlock !== undefined ? ` AND ctid < '(${chunk.toBlock},0)'::tid` : ''}`;
  const list = columns.join(', ');
  // psql's backslash-command quoting: '' for a quote, \\ for a backslash, \n for a new line.
  const echo = (text: string) => `\\echo '${text.replace(/\\/g, '\\\\').replace(/'/g, "''").replace(/\n/g, '\\n')}'`;
  const header =
    `--\n-- pgwarden: rows of ${chunk.table.name} in blocks [${chunk.fromBlock}, ${chunk.toBlock ?? 'end'}), snapshot ${snapshot}\n--\n\n` +
    `SET statement_timeout = 0;\nSET lock_timeout = 0;\nSET client_encoding = '${encoding}';\nSET standard_conforming_strings = on;\n` +
    `SELECT pg_catalog.set_config('search_path', '', false);\nSET row_security = off;\n\nCOPY ${chunk.table.name} (${list}) FROM stdin;`;
  const commands = [
    'BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY',
    `SET TRANSACTION SNAPSHOT '${snapshot}'`,
    // What pg_dump sets, so that values come out exactly as pg_dump would write them.
    'SET DateStyle = ISO; SET IntervalStyle = postgres; SET extra_float_digits = 3; SET row_security = off; SET statement_timeout = 0; SET synchronize_seqscans = off',
    echo(header),
    `\\copy (SELECT ${list} FROM ONLY ${chunk.table.name} WHERE ${range}) TO pstdout`,
    echo('\\.\n'),
    'COMMIT',
  ];
  // psql's command tags ("COPY 1234") go to a small file of their own; the rows go to stdout.
  const tags = join(tmpdir(), `pgwarden-copy-${process.pid}-${randomBytes(6).toString('hex')}.tags`);
  return [
    {
      command: psql,
      args: ['-X', '-v', 'ON_ERROR_STOP=1', '--no-password', '-o', tags, ...commands.flatMap((c) => ['-c', c])],
      env: { ...env, PGCLIENTENCODING: encoding },
      label: 'psql (copy out)',
      onExit: () => {
        const match = /^COPY (\d+)$/m.exec(existsSync(tags) ? readFileSync(tags, 'utf8') : '');
        if (match) report.rows = Number(match[1]);
        rmSync(tags, { force: true });
      },
    },
    byteCountStep(report),
  ];
}

/** A pg_dump/pg_restore/psql failure as a message with the tool's own words. */
export function toolFailure(tool: string, what: string, error: unknown): PgwardenError {
  if (error instanceof PgwardenError) return error;
  const e = error as { stderr?: unknown; exitCode?: number; shortMessage?: string; message?: string; code?: string; isCanceled?: boolean };
  if (e.isCanceled) return new PgwardenError('Failed', `${tool} for ${what} was cancelled.`, { cause: error, retryable: false });
  if (e.code === 'ENOENT') return new PgwardenError('Config', `${tool} is not installed: install the PostgreSQL client tools.`, { cause: error });
  const stderr = typeof e.stderr === 'string' ? e.stderr.trim().split('\n').filter(Boolean).slice(-6).join('\n  ') : '';
  const detail = stderr || e.shortMessage || e.message || String(error);
  return new PgwardenError('Failed', `${tool} failed for ${what}${e.exitCode !== undefined ? ` (exit ${e.exitCode})` : ''}:\n  ${detail}`, { cause: error });
}
