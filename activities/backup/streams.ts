// One stream of a logical dump sealed into the repository, by the path its content takes: a process chain
// (rows copied out by psql, or a schema archive by pg_dump) or pg_dump's data stream through Node; and the two
// small plain-SQL objects of a Supabase backup.
import { Readable } from 'node:stream';
import { execa } from 'execa';
import { PgwardenError } from '../../domain/errors.js';
import type { StoredObjectEntry } from '../catalog/manifest.js';
import { CopyRowCounter } from '../pipeline/count-rows.js';
import { byteCountStep, ByteCounter, type Sha256Meter } from '../pipeline/measure.js';
import { sealInto, type SealSettings } from '../pipeline/seal.js';
import { copyOutSteps, pgDumpStep, startPgDump, toolFailure, type CopyReport, type DumpStream } from '../postgres/dump.js';
import { filterSupabaseRoles, WholeTextFilter } from '../providers/supabase.js';
import type { Repository } from '../storage/repository.js';

/** What every stream of one dump shares: where it goes, how it is sealed, the snapshot it reads. */
export interface DumpRun {
  database: string;
  repo: Repository;
  folder: string;
  settings: SealSettings;
  retainUntil: Date;
  abort: AbortController;
  env: Record<string, string>;
  snapshot: string;
  encoding: string;
  pgDump: string;
  psql: string;
  columns: Map<string, string[]>;
  /** Rows per table, added up from every stream (pieces of a table add up). */
  rowsByTable: Map<string, number>;
}

/** What the progress report reads of one stream while it runs. */
export interface StreamProgress {
  rawBytes: () => number;
  stored?: Sha256Meter;
  raw?: ByteCounter; // pg_dump streams: knows when the first byte came
}

export async function sealStream(run: DumpRun, stream: DumpStream, progressOf: StreamProgress): Promise<StoredObjectEntry> {
  const key = `${run.folder}${stream.name}.zst.gpg`;
  const sealOptions = { signal: run.abort.signal, onMeter: (meter: Sha256Meter) => (progressOf.stored = meter), retainUntil: run.retainUntil };
  if (stream.copies || stream.format === 'custom') return sealProcessChain(run, stream, key, sealOptions, progressOf);
  return sealPgDumpData(run, stream, key, sealOptions, progressOf);
}

type SealOptions = { signal: AbortSignal; onMeter: (meter: Sha256Meter) => void; retainUntil: Date };

/**
 * Table data (psql | dd | zstd | gpg; psql reports each COPY's row count) or a schema archive
 * (pg_dump | dd | zstd | gpg): processes joined by pipes, the bytes never in Node.
 */
async function sealProcessChain(run: DumpRun, stream: DumpStream, key: string, sealOptions: SealOptions, progressOf: StreamProgress): Promise<StoredObjectEntry> {
  const report: CopyReport = { bytes: 0 };
  progressOf.rawBytes = () => report.bytes;
  const what = `database "${run.database}" (${stream.name})`;
  const steps = stream.copies ? copyOutSteps(run.psql, stream, run.columns, run.encoding, run.snapshot, run.env, report) : [pgDumpStep(run.pgDump, stream, run.snapshot, run.env, what), byteCountStep(report)];
  if (stream.copies) steps[0]!.explain = (stderr, code) => toolFailure('psql (copying rows out)', what, { stderr, exitCode: code ?? undefined });
  const sealed = await sealInto(run.repo, key, steps, run.settings, sealOptions).catch((error: unknown) => {
    run.abort.abort(error);
    throw error;
  });
  const entry: StoredObjectEntry = { name: `${stream.name}.zst.gpg`, role: stream.role, format: stream.format, rawBytes: report.bytes, storedBytes: sealed.storedBytes, sha256: sealed.sha256 };
  if (stream.copies) {
    if (report.rows === undefined) throw new PgwardenError('Failed', `psql did not report how many rows it copied for ${stream.name}: not trusting that piece.`);
    stream.copies.forEach((piece, i) => run.rowsByTable.set(piece.table.name, (run.rowsByTable.get(piece.table.name) ?? 0) + report.rows![i]!)); // pieces of a table add up
    entry.tables = stream.copies.map((piece) => piece.table.name);
  }
  return entry;
}

/**
 * pg_dump's data stream (sequence values, large objects, extension tables) passes through Node, which counts
 * the rows of every COPY on the way.
 */
async function sealPgDumpData(run: DumpRun, stream: DumpStream, key: string, sealOptions: SealOptions, progressOf: StreamProgress): Promise<StoredObjectEntry> {
  const raw = new ByteCounter();
  progressOf.rawBytes = () => raw.bytes;
  progressOf.raw = raw;
  const rows = stream.format === 'plain' ? new CopyRowCounter() : undefined;
  const dump = startPgDump(run.pgDump, stream, run.snapshot, run.env, run.abort.signal);
  try {
    const sealed = await sealInto(run.repo, key, dump.output, run.settings, { ...sealOptions, taps: rows ? [raw, rows] : [raw] });
    for (const [table, count] of rows?.rows ?? []) run.rowsByTable.set(table, (run.rowsByTable.get(table) ?? 0) + count);
    const entry: StoredObjectEntry = { name: `${stream.name}.zst.gpg`, role: stream.role, format: stream.format, rawBytes: raw.bytes, storedBytes: sealed.storedBytes, sha256: sealed.sha256 };
    if (stream.role === 'data') entry.tables = rows ? [...rows.rows.keys()] : stream.tables;
    return entry;
  } catch (error) {
    run.abort.abort(error);
    const result = await dump.child.catch((e: unknown) => e);
    throw result instanceof Error && (result as { exitCode?: number }).exitCode ? toolFailure('pg_dump', `database "${run.database}" (${stream.name})`, result) : error;
  }
}

/**
 * Supabase: the project's own roles (pg_dumpall, filtered as the Supabase CLI does) and what the user made on
 * the platform's tables: both plain SQL, small, restored around the schema and the data. Added to `objects`.
 */
export async function sealSupabaseExtras(run: DumpRun, objects: StoredObjectEntry[], database: string, pgDumpall: string, extras: string): Promise<void> {
  const roles = execa(pgDumpall, ['--roles-only', '--no-role-passwords', '--no-comments', '--quote-all-identifiers', '--no-password', `--database=${database}`], {
    env: run.env,
    stdin: 'ignore',
    buffer: { stdout: false, stderr: true },
    cancelSignal: run.abort.signal,
  });
  roles.catch(() => undefined);
  const rolesRaw = new ByteCounter();
  const sealedRoles = await sealInto(run.repo, `${run.folder}roles.sql.zst.gpg`, roles.readable({ from: 'stdout' }), run.settings, { signal: run.abort.signal, taps: [new WholeTextFilter(filterSupabaseRoles), rolesRaw] }).catch(async (error: unknown) => {
    const result = await roles.catch((e: unknown) => e);
    throw result instanceof Error && (result as { exitCode?: number }).exitCode ? toolFailure('pg_dumpall --roles-only', `database "${run.database}"`, result) : error;
  });
  objects.unshift({ name: 'roles.sql.zst.gpg', role: 'roles', format: 'plain', rawBytes: rolesRaw.bytes, storedBytes: sealedRoles.storedBytes, sha256: sealedRoles.sha256 });
  const sealedExtras = await sealInto(run.repo, `${run.folder}extras.sql.zst.gpg`, Readable.from([Buffer.from(extras)]), run.settings, { signal: run.abort.signal });
  objects.push({ name: 'extras.sql.zst.gpg', role: 'extras', format: 'plain', rawBytes: Buffer.byteLength(extras), storedBytes: sealedExtras.storedBytes, sha256: sealedExtras.sha256 });
}
