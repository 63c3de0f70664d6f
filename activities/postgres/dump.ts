// pg_dump invocations of a logical backup: schema before data, data in parallel streams, schema after data,
// all reading one exported snapshot so the pieces form one consistent dump.
import type { Readable } from 'node:stream';
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
  args: string[];
  /** Tables whose rows this stream holds; the rest stream lists them as it finds them. */
  tables: string[];
  /** Estimated bytes (table sizes on disk), to order work and show progress. */
  estimatedBytes: number;
}

/**
 * Large tables get a data stream each so that backup and restore can run them in parallel; the others,
 * sequences and large objects share one. Schema comes as pg_dump custom archives, so a restore can still
 * choose --no-owner; data as plain COPY, so rows can be counted as they stream.
 */
export function planDumpStreams(tables: TableInfo[], splitBytes: number): DumpStream[] {
  const big = tables.filter((t) => t.bytes >= splitBytes && splitBytes > 0).sort((a, b) => b.bytes - a.bytes);
  const rest = tables.filter((t) => !big.includes(t));
  const pad = (n: number) => String(n).padStart(4, '0');
  return [
    { name: 'pre-data.pgdump', role: 'pre-data', format: 'custom', args: ['--format=custom', '--compress=0', '--section=pre-data'], tables: [], estimatedBytes: 0 },
    ...big.map<DumpStream>((table, i) => ({
      name: `data-${pad(i + 1)}.sql`,
      role: 'data',
      format: 'plain',
      args: ['--format=plain', '--section=data', `--table=${exactTablePattern(table)}`],
      tables: [table.name],
      estimatedBytes: table.bytes,
    })),
    {
      name: `data-${pad(0)}.sql`,
      role: 'data',
      format: 'plain',
      args: ['--format=plain', '--section=data', ...big.map((table) => `--exclude-table-data=${exactTablePattern(table)}`)],
      tables: rest.map((t) => t.name),
      estimatedBytes: rest.reduce((sum, t) => sum + t.bytes, 0),
    },
    { name: 'post-data.pgdump', role: 'post-data', format: 'custom', args: ['--format=custom', '--compress=0', '--section=post-data'], tables: [], estimatedBytes: 0 },
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
