// One stream of a logical dump sealed into the repository, by the path its content takes: a process chain
// (rows copied out by psql, or a schema archive by pg_dump) or pg_dump's data stream through Node; and the two
// small plain-SQL objects of a Supabase backup.
import { Readable } from 'node:stream';
import { execa } from 'execa';
import type { StoredObjectEntry } from '../catalog/manifest.js';
import type { Step } from '../pipeline/chain.js';
import { FilterGroup, rawSize, rawSizeStep, reported, tableRows, through } from '../pipeline/filters.js';
import { sealInto, type SealedObject, type SealSettings } from '../pipeline/seal.js';
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

/** Seals one stream; what the manifest records of it (sizes, sha256, rows) is read from its filters by name. */
export async function sealStream(run: DumpRun, stream: DumpStream, filters: FilterGroup): Promise<StoredObjectEntry> {
  const key = `${run.folder}${stream.name}.zst.gpg`;
  const sealed = stream.copies || stream.format === 'custom' ? await sealProcessChain(run, stream, key, filters) : await sealPgDumpData(run, stream, key, filters);
  const entry: StoredObjectEntry = { name: `${stream.name}.zst.gpg`, role: stream.role, format: stream.format, rawBytes: filters.result('raw-size'), storedBytes: sealed.storedBytes, sha256: sealed.sha256 };
  if (stream.copies) {
    const rows = filters.result('copy-rows');
    stream.copies.forEach((piece, i) => run.rowsByTable.set(piece.table.name, (run.rowsByTable.get(piece.table.name) ?? 0) + rows[i]!)); // pieces of a table add up
    entry.tables = stream.copies.map((piece) => piece.table.name);
  } else if (filters.measures('table-rows')) {
    const rows = filters.result('table-rows');
    for (const [table, count] of rows) run.rowsByTable.set(table, (run.rowsByTable.get(table) ?? 0) + count);
    if (stream.role === 'data') entry.tables = [...rows.keys()];
  } else if (stream.role === 'data' && stream.format !== 'custom') entry.tables = stream.tables;
  return entry;
}

/**
 * Table data (psql | dd | zstd | gpg; psql reports each COPY's row count) or a schema archive
 * (pg_dump | dd | zstd | gpg): processes joined by pipes, the bytes never in Node.
 */
async function sealProcessChain(run: DumpRun, stream: DumpStream, key: string, filters: FilterGroup): Promise<SealedObject> {
  const what = `database "${run.database}" (${stream.name})`;
  let steps: Step[];
  if (stream.copies) {
    const report: CopyReport = { bytes: 0 };
    steps = copyOutSteps(run.psql, stream, run.columns, run.encoding, run.snapshot, run.env, report); // its own dd counts the bytes
    steps[0]!.explain = (stderr, code) => toolFailure('psql (copying rows out)', what, { stderr, exitCode: code ?? undefined });
    filters.add(reported(report, stream.name));
  } else {
    steps = [pgDumpStep(run.pgDump, stream, run.snapshot, run.env, what)];
    filters.add(rawSizeStep());
  }
  return sealInto(run.repo, key, steps, run.settings, { filters, signal: run.abort.signal, retainUntil: run.retainUntil }).catch((error: unknown) => {
    run.abort.abort(error);
    throw error;
  });
}

/**
 * pg_dump's data stream (sequence values, large objects, extension tables) passes through Node, which counts
 * the rows of every COPY on the way.
 */
async function sealPgDumpData(run: DumpRun, stream: DumpStream, key: string, filters: FilterGroup): Promise<SealedObject> {
  filters.add(rawSize());
  if (stream.format === 'plain') filters.add(tableRows());
  const dump = startPgDump(run.pgDump, stream, run.snapshot, run.env, run.abort.signal);
  try {
    return await sealInto(run.repo, key, dump.output, run.settings, { filters, signal: run.abort.signal, retainUntil: run.retainUntil });
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
  const rolesFilters = new FilterGroup().add(through(new WholeTextFilter(filterSupabaseRoles)), rawSize());
  const sealedRoles = await sealInto(run.repo, `${run.folder}roles.sql.zst.gpg`, roles.readable({ from: 'stdout' }), run.settings, { signal: run.abort.signal, filters: rolesFilters }).catch(async (error: unknown) => {
    const result = await roles.catch((e: unknown) => e);
    throw result instanceof Error && (result as { exitCode?: number }).exitCode ? toolFailure('pg_dumpall --roles-only', `database "${run.database}"`, result) : error;
  });
  objects.unshift({ name: 'roles.sql.zst.gpg', role: 'roles', format: 'plain', rawBytes: rolesFilters.result('raw-size'), storedBytes: sealedRoles.storedBytes, sha256: sealedRoles.sha256 });
  const sealedExtras = await sealInto(run.repo, `${run.folder}extras.sql.zst.gpg`, Readable.from([Buffer.from(extras)]), run.settings, { signal: run.abort.signal });
  objects.push({ name: 'extras.sql.zst.gpg', role: 'extras', format: 'plain', rawBytes: Buffer.byteLength(extras), storedBytes: sealedExtras.storedBytes, sha256: sealedExtras.sha256 });
}
