// pg_dump invocations of a logical backup: schema before data, data in parallel streams, schema after data,
// all reading one exported snapshot so the pieces form one consistent dump.
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import type { Step } from '../pipeline/chain.js';
import { byteCountStep } from '../pipeline/measure.js';
import { execa, type ResultPromise } from 'execa';
import { PgwardenError } from '../../domain/errors.js';
import { exactTablePattern, type TableInfo } from './inventory.js';
import { childEnvironment } from '../process-environment.js';
import { processScratchDirectory } from '../storage/scratch.js';

export const LOGICAL_FORMAT = 'pgwarden-logical-v1';

export interface DumpStream {
  /** File name inside the backup folder, before the .zst.gpg of compression and encryption. */
  name: string;
  role: 'pre-data' | 'data' | 'post-data';
  /** "custom" is read by pg_restore, "plain" (SQL) by psql. */
  format: 'custom' | 'plain';
  /** pg_dump's arguments; empty for a stream that psql copies out itself. */
  args: string[];
  /** What psql copies out, in this order: whole tables, or block ranges of one (PostgreSQL 14+: a TID range scan). */
  copies?: CopyPiece[];
  /** Tables whose rows this stream holds; the rest stream lists them as it finds them. */
  tables: string[];
  /** Estimated bytes (table sizes on disk), to order work and show progress. */
  estimatedBytes: number;
}

export interface CopyPiece {
  table: TableInfo;
  /** A block range [fromBlock, toBlock) of the table; absent for the whole table. toBlock absent: to the end. */
  fromBlock?: number;
  toBlock?: number;
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

/** pg_dump's arguments must fit one command line: beyond this, small tables stay in pg_dump's own stream. */
const EXCLUDE_ARGUMENTS_MAX_BYTES = 512 * 1024;

/**
 * Every table's rows are copied out by psql, straight into the compressor: they never pass through Node. Large
 * tables get streams of their own, and the largest are cut into block ranges, so that backup and restore run in
 * parallel even when one table is most of the database (pg_dump -j parallelizes only across tables); small tables
 * share streams of up to about the chunk size. pg_dump's own data stream (data-0000) keeps what only pg_dump
 * knows how to write: sequence values, large objects and the configuration tables of extensions. Schema comes
 * as pg_dump custom archives, so a restore can still choose --no-owner; data as plain COPY, whose row counts psql
 * reports.
 */
export function planDumpStreams(tables: TableInfo[], plan: StreamPlan): DumpStream[] {
  const big = tables.filter((t) => t.bytes >= plan.splitBytes && plan.splitBytes > 0).sort((a, b) => b.bytes - a.bytes);
  const small = tables.filter((t) => !big.includes(t)).sort((a, b) => b.bytes - a.bytes || a.name.localeCompare(b.name));
  const excludeBytes = tables.reduce((sum, t) => sum + exactTablePattern(t).length + 25, 0);
  // A database with more tables than a command line can exclude keeps its small tables in pg_dump's stream.
  const copySmall = excludeBytes <= EXCLUDE_ARGUMENTS_MAX_BYTES;
  const pad = (n: number) => String(n).padStart(4, '0');
  const data: DumpStream[] = [];
  const copyStream = (copies: CopyPiece[], estimatedBytes: number): DumpStream => ({
    name: '',
    role: 'data',
    format: 'plain',
    args: [],
    copies,
    tables: [...new Set(copies.map((c) => c.table.name))],
    estimatedBytes,
  });
  for (const table of big) {
    const pieces = plan.chunkBytes > 0 && plan.serverMajor >= 14 && table.blocks > 1 ? Math.min(table.blocks, Math.ceil(table.bytes / plan.chunkBytes)) : 1;
    if (pieces <= 1) {
      data.push(copyStream([{ table }], table.bytes));
      continue;
    }
    for (let i = 0; i < pieces; i += 1) {
      const fromBlock = Math.floor((table.blocks * i) / pieces);
      const toBlock = i === pieces - 1 ? undefined : Math.floor((table.blocks * (i + 1)) / pieces); // the last is open-ended
      data.push(copyStream([{ table, fromBlock, ...(toBlock !== undefined ? { toBlock } : {}) }], Math.round(table.bytes / pieces)));
    }
  }
  if (copySmall && small.length > 0) {
    // Largest first into groups of about the chunk size (or the split size), so no group is most of the work.
    const groupBytes = Math.max(plan.chunkBytes, plan.splitBytes) || Infinity;
    let group: TableInfo[] = [];
    let groupSize = 0;
    for (const table of small) {
      if (group.length > 0 && groupSize + table.bytes > groupBytes) {
        data.push(copyStream(group.map((t) => ({ table: t })), groupSize));
        group = [];
        groupSize = 0;
      }
      group.push(table);
      groupSize += table.bytes;
    }
    data.push(copyStream(group.map((t) => ({ table: t })), groupSize));
  }
  data.forEach((stream, i) => (stream.name = `data-${pad(i + 1)}.sql`));
  const schemaScope = (plan.scope?.schemaExcludes ?? []).map((s) => `--exclude-schema=${s}`);
  const dataScope = [...(plan.scope?.dataExcludes ?? []).map((s) => `--exclude-schema=${s}`), ...(plan.scope?.dataExcludeTables ?? []).map((t) => `--exclude-table-data=${t}`)];
  const excluded = copySmall ? tables : big;
  const rest = copySmall ? [] : small;
  return [
    { name: 'pre-data.pgdump', role: 'pre-data', format: 'custom', args: ['--format=custom', '--compress=0', '--section=pre-data', ...schemaScope], tables: [], estimatedBytes: 0 },
    ...data,
    {
      name: `data-${pad(0)}.sql`,
      role: 'data',
      format: 'plain',
      args: ['--format=plain', '--section=data', ...dataScope, ...excluded.map((table) => `--exclude-table-data=${exactTablePattern(table)}`)],
      tables: rest.map((t) => t.name),
      estimatedBytes: rest.reduce((sum, t) => sum + t.bytes, 0),
    },
    { name: 'post-data.pgdump', role: 'post-data', format: 'custom', args: ['--format=custom', '--compress=0', '--section=post-data', ...schemaScope], tables: [], estimatedBytes: 0 },
  ];
}

/** pg_dump as the first step of a process chain (the schema archives: no rows to count on the way). */
export function pgDumpStep(pgDump: string, stream: DumpStream, snapshot: string, env: Record<string, string>, what: string): Step {
  return {
    command: pgDump,
    args: [...stream.args, `--snapshot=${snapshot}`, '--no-password', '--lock-wait-timeout=300000'],
    env,
    label: 'pg_dump',
    explain: (stderr, exitCode) => toolFailure('pg_dump', what, { stderr, exitCode: exitCode ?? undefined }),
  };
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
    env: childEnvironment(env),
    extendEnv: false,
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

export interface CopyReport {
  /** Rows the server copied out, per piece in order (psql's "COPY n"). */
  rows?: number[];
  /** Bytes of COPY text produced so far (dd counts them as they pass). */
  bytes: number;
}

/**
 * The processes that copy a stream's tables (or block ranges) out: psql in the backup's snapshot, with pg_dump's
 * session settings, framing the rows of each table as the plain SQL pg_dump writes for a table's data (psql, or
 * the emergency script, loads it as it is); then dd, which counts the bytes on their way into zstd. The rows never
 * pass through Node. psql reads its script on stdin (the first step's `input`) and writes its command tags, one
 * "COPY n" per piece, into a file of a private temporary directory, removed when it exits.
 */
export function copyOutSteps(
  psql: string,
  stream: DumpStream,
  columns: Map<string, string[]>,
  encoding: string,
  snapshot: string,
  env: Record<string, string>,
  report: CopyReport,
): Step[] {
  // psql's backslash-command quoting: '' for a quote, \\ for a backslash, \n for a new line.
  const echo = (text: string) => `\\echo '${text.replace(/\\/g, '\\\\').replace(/'/g, "''").replace(/\n/g, '\\n')}'`;
  const lines = [
    'BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY;',
    `SET TRANSACTION SNAPSHOT '${snapshot}';`,
    // What pg_dump sets, so that values come out exactly as pg_dump would write them.
    'SET DateStyle = ISO; SET IntervalStyle = postgres; SET extra_float_digits = 3; SET row_security = off; SET statement_timeout = 0; SET synchronize_seqscans = off;',
    echo(
      `--\n-- pgwarden: table data (${stream.copies!.length} piece${stream.copies!.length === 1 ? '' : 's'}), snapshot ${snapshot}\n--\n\n` +
        `SET statement_timeout = 0;\nSET lock_timeout = 0;\nSET client_encoding = '${encoding}';\nSET standard_conforming_strings = on;\n` +
        `SELECT pg_catalog.set_config('search_path', '', false);\nSET row_security = off;\n`,
    ),
  ];
  for (const piece of stream.copies!) {
    const table = piece.table.name;
    const names = columns.get(table);
    if (!names) throw new PgwardenError('Failed', `Table ${table} disappeared while the backup was planned: try again.`, { retryable: true });
    const list = names.join(', ');
    const listed = names.length ? ` (${list})` : ''; // a table without columns still has rows
    const ranged = piece.fromBlock !== undefined;
    const range = ranged ? `ctid >= '(${piece.fromBlock},0)'::tid${piece.toBlock !== undefined ? ` AND ctid < '(${piece.toBlock},0)'::tid` : ''}` : '';
    const what = ranged ? `rows of ${table} in blocks [${piece.fromBlock}, ${piece.toBlock ?? 'end'})` : `data of ${table}`;
    lines.push(
      echo(`\n--\n-- pgwarden: ${what}\n--\n\nCOPY ${table}${listed} FROM stdin;`),
      // A whole table as pg_dump copies it (COPY of a table never includes its children); a range by TID scan.
      ranged ? `\\copy (SELECT ${list} FROM ONLY ${table} WHERE ${range}) TO pstdout` : `\\copy ${table}${listed} TO pstdout`,
      echo('\\.'),
    );
  }
  lines.push('COMMIT;');
  // Named after this process: if it is killed (-9, no onExit), the next stream on this host removes it.
  const dir = processScratchDirectory('pgwarden-copy-');
  const tags = join(dir, 'tags');
  return [
    {
      command: psql,
      args: ['-X', '-v', 'ON_ERROR_STOP=1', '--no-password', '-o', tags, '-f', '-'],
      env: { ...env, PGCLIENTENCODING: encoding },
      input: `${lines.join('\n')}\n`,
      label: 'psql (copy out)',
      onExit: () => {
        const counts = [...(existsSync(tags) ? readFileSync(tags, 'utf8') : '').matchAll(/^COPY (\d+)$/gm)].map((m) => Number(m[1]));
        if (counts.length === stream.copies!.length) report.rows = counts;
        rmSync(dir, { recursive: true, force: true });
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
