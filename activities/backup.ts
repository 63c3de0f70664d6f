// Activities of the logical backup workflow: check, dump (the long one), copy to more repositories, clean up.
import { Readable } from 'node:stream';
import type pg from 'pg';
import { execa } from 'execa';
import { PgwardenError } from '../domain/errors.js';
import { databaseView } from '../config/load.js';
import type { Config, Provider } from '../config/schema.js';
import { PGWARDEN_VERSION } from '../config/version.js';
import type { BackupKind } from '../domain/kinds.js';
import type { DiscardInput } from '../domain/backup.js';
import type { Progress } from '../domain/progress.js';
import { backupFolder, CHECKSUMS_FILE, checksumsFile, MANIFEST_FILE, MANIFEST_VERSION, readManifest, writeManifest, type BackupManifest, type StoredObjectEntry } from './catalog/manifest.js';
import { newBackupKey } from './keys/backup-keys.js';
import { loadKeyring } from './keys/keyring.js';
import { COMPRESSION_NAME } from './pipeline/compress.js';
import { CopyRowCounter } from './pipeline/count-rows.js';
import { byteCountStep, ByteCounter, Sha256Meter } from './pipeline/measure.js';
import { sealInto } from './pipeline/seal.js';
import { pgTool } from './postgres/binaries.js';
import { connect, libpqEnv, withClient } from './postgres/connection.js';
import { copyOutSteps, LOGICAL_FORMAT, pgDumpStep, planDumpStreams, startPgDump, toolFailure, type CopyReport, type DumpStream } from './postgres/dump.js';
import { copyColumns, databaseInfo, listExtensions, listTables, serverInfo, type TableInfo } from './postgres/inventory.js';
import type { NeonBranchPoint, NeonDumpSource } from './providers/neon/backup-branch.js';
import { dumpEndpoint, neonServerMajor } from './providers/source.js';
import { filterSupabaseRoles, managedTableExtras, matchesPattern, SUPABASE_SCOPE, WholeTextFilter, type DumpScope } from './providers/supabase.js';
import { currentReporter, inParallel, reportEvery } from './progress.js';
import { openRepository } from './storage/open.js';
import { copyObject } from './storage/copy.js';
import { logicalRetainUntil } from './storage/lock.js';
import type { Repository } from './storage/repository.js';
import { childEnvironment } from './process-environment.js';

export interface DumpLogicalInput {
  database: string;
  backupId: string;
  kind: BackupKind;
  /** Pre-migration backups: the migration it precedes, written into the manifest. */
  migrationId?: string;
  /** The audit link written into the manifest. */
  workflow: { namespace: string; workflowId: string; runId: string; startedAtMs: number };
  /** Neon: the branch made for this backup; the dump fetches its connection from the API by these ids. */
  neon?: NeonDumpSource;
}

export interface DumpLogicalOutput {
  backupId: string;
  repository: string;
  rawBytes: number;
  storedBytes: number;
  tables: number;
  rows: number;
  dumpMs: number;
  firstByteMs?: number;
}

export interface PreparedBackup {
  repositories: string[];
  serverVersion: string;
  provider: Provider;
}

export function backupActivities(config: Config) {
  return {
    /** Fails fast, before anything is written, on what a person must fix: config, secrets, server, repositories. */
    async prepareBackup(input: { database: string; kind?: BackupKind }): Promise<PreparedBackup> {
      const db = databaseView(config, input.database);
      const repositories = db.repositoriesFor(input.kind ?? 'manual');
      await loadKeyring(config); // every key the configuration names is there and is a key
      const provider = db.settings.provider;
      let server: { version: string; major: number };
      if (provider === 'neon') {
        // The API key, project and parent branch are checked here; the data is read from a branch made next.
        const major = await neonServerMajor(config, input.database);
        server = { version: `${major} (Neon)`, major };
      } else {
        server = await withClient(await dumpEndpoint(config, input.database), 'backup check', (client) => serverInfo(client));
      }
      await pgTool('pg_dump', server.major, config.postgres.binDir);
      for (const name of repositories) await openRepository(config, name).check();
      return { repositories, serverVersion: server.version, provider };
    },

    async dumpLogical(input: DumpLogicalInput): Promise<DumpLogicalOutput> {
      return dumpLogical(config, input);
    },

    /** Copies a finished backup into another repository, verifying every object; the manifest goes last. */
    async replicateBackup(input: { database: string; backupId: string; from: string; to: string }): Promise<void> {
      const from = openRepository(config, input.from);
      const to = openRepository(config, input.to);
      const folder = backupFolder(input.database, 'logical', input.backupId);
      const manifest = await readManifest(from, folder);
      if (!manifest) throw new PgwardenError('NotFound', `Backup ${input.backupId} has no manifest in repository "${input.from}": nothing to copy.`);
      if (await readManifest(to, folder)) return; // copied by an earlier attempt
      await to.abortIncompleteWrites(folder);
      const retainUntil = logicalRetainUntil(config, manifest.kind, Date.parse(manifest.startedAt));
      // The wrapped data key goes first: an object never exists without the key that opens it.
      if (manifest.encryption.scheme === 'openpgp-envelope-v1') {
        const key = `${folder}${manifest.encryption.dataKey}`;
        const wrapped = await from.getBytesWithMetadata(key);
        if (!wrapped) throw new PgwardenError('NotFound', `Backup ${input.backupId} has no ${manifest.encryption.dataKey} in repository "${input.from}": nothing to copy that could be opened.`);
        await to.putBytes(key, wrapped.data, { metadata: wrapped.metadata, retainUntil });
      }
      const reporter = currentReporter();
      let done = 0;
      const stop = reportEvery(reporter, () => ({ phase: `copying to ${input.to}`, bytesDone: done, bytesTotal: manifest.storedBytes }));
      try {
        for (const object of manifest.objects) {
          await copyObject(from, to, { key: `${folder}${object.name}`, sha256: object.sha256, storedBytes: object.storedBytes }, reporter.signal, { retainUntil });
          done += object.storedBytes;
        }
        await to.putBytes(`${folder}${CHECKSUMS_FILE}`, checksumsFile(manifest.objects), { retainUntil });
        await writeManifest(to, folder, manifest, { retainUntil });
      } finally {
        stop();
      }
    },

    /** After a failed backup: removes its objects (unless a manifest made it complete) and unfinished uploads. */
    async discardIncompleteBackup(input: DiscardInput): Promise<{ removed: number }> {
      let removed = 0;
      const folder = backupFolder(input.database, input.type ?? 'logical', input.backupId);
      for (const name of input.repositories) removed += await discardIncomplete(openRepository(config, name), folder);
      return { removed };
    },
  };
}

async function dumpLogical(config: Config, input: DumpLogicalInput): Promise<DumpLogicalOutput> {
  const started = Date.now();
  const db = databaseView(config, input.database);
  const repoName = db.repositoriesFor(input.kind)[0]!;
  const repo = openRepository(config, repoName);
  const folder = backupFolder(input.database, 'logical', input.backupId);
  const reporter = currentReporter();

  // A retry after the manifest was written: the backup is complete, do not dump it again.
  const finished = await readManifest(repo, folder);
  if (finished && finished.temporal && finished.temporal.runId !== input.workflow.runId) {
    // Never hand out another run's backup as this one: it would miss what was committed since.
    throw new PgwardenError('Failed', `Backup id ${input.backupId} already belongs to workflow run ${finished.temporal.runId} in repository "${repoName}": start the backup again.`, { retryable: false });
  }
  if (finished) return summarize(finished, repoName, Date.now() - started);
  // A crashed attempt (worker killed) left objects that the catch below never removed, maybe under names this
  // attempt's plan does not produce: start from an empty folder, so the manifest and SHA256SUMS list all it holds.
  await discardIncomplete(repo, folder);

  // Locked (where the bucket has Object Lock) until retention would remove it; the data key before any object.
  const retainUntil = logicalRetainUntil(config, input.kind, input.workflow.startedAtMs);
  const dataKey = await newBackupKey(config, repo, folder, retainUntil);
  const endpoint = await dumpEndpoint(config, input.database, input.neon);
  const scope = db.settings.provider === 'supabase' ? SUPABASE_SCOPE : undefined;
  const env = libpqEnv(endpoint);
  const snapshotClient = await connect(endpoint, 'backup snapshot');
  const abort = new AbortController();
  const onCancel = () => abort.abort(reporter.signal?.reason);
  reporter.signal?.addEventListener('abort', onCancel, { once: true });

  const counters: StreamProgress[] = [];
  let streamsDone = 0;
  let streams: DumpStream[] = [];
  let estimatedBytes = 0;
  const progress = (): Progress => ({
    phase: streams.length === 0 ? 'planning' : streamsDone < streams.length ? 'dumping' : 'writing manifest',
    bytesDone: counters.reduce((sum, c) => sum + c.rawBytes(), 0),
    bytesTotal: estimatedBytes || undefined,
    storedBytes: counters.reduce((sum, c) => sum + (c.stored?.bytes ?? 0), 0),
    itemsDone: streamsDone,
    itemsTotal: streams.length,
  });
  const stopReporting = reportEvery(reporter, progress);

  try {
    await snapshotClient.query('BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY');
    const server = await serverInfo(snapshotClient);
    const source = await databaseInfo(snapshotClient);
    const tables = (await listTables(snapshotClient)).filter((t) => !scope || inDataScope(t, scope));
    const extensions = await listExtensions(snapshotClient);
    const extras = scope ? await managedTableExtras(snapshotClient) : undefined;
    await lockTables(snapshotClient, tables.map((t) => t.name));
    const snapshot = (await snapshotClient.query<{ s: string }>('SELECT pg_export_snapshot() AS s')).rows[0]!.s;
    const pgDump = await pgTool('pg_dump', server.major, config.postgres.binDir);
    const pgDumpVersion = execa(pgDump, ['--version'], { env: childEnvironment(), extendEnv: false }).then((r) => r.stdout.replace(/^pg_dump \(PostgreSQL\) /, ''));

    streams = planDumpStreams(tables, {
      splitBytes: config.backup.splitTableMiB * 1024 * 1024,
      chunkBytes: config.backup.chunkMiB * 1024 * 1024,
      serverMajor: server.major,
      ...(scope ? { scope } : {}),
    });
    const copied = [...new Map(streams.flatMap((st) => st.copies ?? []).map((c) => [c.table.name, c.table])).values()];
    const columns = copied.length ? await copyColumns(snapshotClient, copied) : new Map<string, string[]>();
    const psql = copied.length ? await pgTool('psql', server.major, config.postgres.binDir) : '';
    estimatedBytes = tables.reduce((sum, t) => sum + t.bytes, 0);
    const settings = {
      compression: { level: config.backup.compressionLevel, threads: config.backup.compressionThreads },
      passphrase: dataKey.secret,
      dataKey: true,
    };
    const rowsByTable = new Map<string, number>();

    // Largest first, so the longest stream starts at once; schema streams are small and go first anyway.
    const order = [...streams].sort((a, b) => (a.role === 'pre-data' ? -1 : b.role === 'pre-data' ? 1 : b.estimatedBytes - a.estimatedBytes));
    const stored = await inParallel(order, config.backup.jobs, async (stream) => {
      const key = `${folder}${stream.name}.zst.gpg`;
      const sealOptions = { signal: abort.signal, onMeter: (meter: Sha256Meter) => (progressOf.stored = meter), retainUntil };
      const progressOf: StreamProgress = { rawBytes: () => 0 };
      counters.push(progressOf);
      let entry: StoredObjectEntry;
      if (stream.copies || stream.format === 'custom') {
        // Table data (psql | dd | zstd | gpg; psql reports each COPY's row count) or a schema archive
        // (pg_dump | dd | zstd | gpg): processes joined by pipes, the bytes never in Node.
        const report: CopyReport = { bytes: 0 };
        progressOf.rawBytes = () => report.bytes;
        const what = `database "${input.database}" (${stream.name})`;
        const steps = stream.copies ? copyOutSteps(psql, stream, columns, source.encoding, snapshot, env, report) : [pgDumpStep(pgDump, stream, snapshot, env, what), byteCountStep(report)];
        if (stream.copies) steps[0]!.explain = (stderr, code) => toolFailure('psql (copying rows out)', what, { stderr, exitCode: code ?? undefined });
        const sealed = await sealInto(repo, key, steps, settings, sealOptions).catch((error: unknown) => {
          abort.abort(error);
          throw error;
        });
        entry = { name: `${stream.name}.zst.gpg`, role: stream.role, format: stream.format, rawBytes: report.bytes, storedBytes: sealed.storedBytes, sha256: sealed.sha256 };
        if (stream.copies) {
          if (report.rows === undefined) throw new PgwardenError('Failed', `psql did not report how many rows it copied for ${stream.name}: not trusting that piece.`);
          stream.copies.forEach((piece, i) => rowsByTable.set(piece.table.name, (rowsByTable.get(piece.table.name) ?? 0) + report.rows![i]!)); // pieces of a table add up
          entry.tables = stream.copies.map((piece) => piece.table.name);
        }
      } else {
        // pg_dump's data stream (sequence values, large objects, extension tables) passes through Node, which
        // counts the rows of every COPY on the way.
        const raw = new ByteCounter();
        progressOf.rawBytes = () => raw.bytes;
        progressOf.raw = raw;
        const rows = stream.format === 'plain' ? new CopyRowCounter() : undefined;
        const dump = startPgDump(pgDump, stream, snapshot, env, abort.signal);
        try {
          const sealed = await sealInto(repo, key, dump.output, settings, { ...sealOptions, taps: rows ? [raw, rows] : [raw] });
          for (const [table, count] of rows?.rows ?? []) rowsByTable.set(table, (rowsByTable.get(table) ?? 0) + count);
          entry = { name: `${stream.name}.zst.gpg`, role: stream.role, format: stream.format, rawBytes: raw.bytes, storedBytes: sealed.storedBytes, sha256: sealed.sha256 };
          if (stream.role === 'data') entry.tables = rows ? [...rows.rows.keys()] : stream.tables;
        } catch (error) {
          abort.abort(error);
          const result = await dump.child.catch((e: unknown) => e);
          throw result instanceof Error && (result as { exitCode?: number }).exitCode ? toolFailure('pg_dump', `database "${input.database}" (${stream.name})`, result) : error;
        }
      }
      streamsDone += 1;
      return entry;
    });

    const objects = streams.map((s) => stored[order.indexOf(s)]!);
    if (scope) {
      // The project's own roles (pg_dumpall, filtered as the Supabase CLI does) and what the user made on the
      // platform's tables: both plain SQL, small, restored around the schema and the data.
      const pgDumpall = await pgTool('pg_dumpall', server.major, config.postgres.binDir);
      const roles = execa(pgDumpall, ['--roles-only', '--no-role-passwords', '--no-comments', '--quote-all-identifiers', '--no-password', `--database=${endpoint.database}`], {
        env,
        stdin: 'ignore',
        buffer: { stdout: false, stderr: true },
        cancelSignal: abort.signal,
      });
      roles.catch(() => undefined);
      const rolesRaw = new ByteCounter();
      const sealedRoles = await sealInto(repo, `${folder}roles.sql.zst.gpg`, roles.readable({ from: 'stdout' }), settings, { signal: abort.signal, taps: [new WholeTextFilter(filterSupabaseRoles), rolesRaw] }).catch(async (error: unknown) => {
        const result = await roles.catch((e: unknown) => e);
        throw result instanceof Error && (result as { exitCode?: number }).exitCode ? toolFailure('pg_dumpall --roles-only', `database "${input.database}"`, result) : error;
      });
      objects.unshift({ name: 'roles.sql.zst.gpg', role: 'roles', format: 'plain', rawBytes: rolesRaw.bytes, storedBytes: sealedRoles.storedBytes, sha256: sealedRoles.sha256 });
      const sealedExtras = await sealInto(repo, `${folder}extras.sql.zst.gpg`, Readable.from([Buffer.from(extras!)]), settings, { signal: abort.signal });
      objects.push({ name: 'extras.sql.zst.gpg', role: 'extras', format: 'plain', rawBytes: Buffer.byteLength(extras!), storedBytes: sealedExtras.storedBytes, sha256: sealedExtras.sha256 });
    }
    const manifest: BackupManifest = {
      manifestVersion: MANIFEST_VERSION,
      id: input.backupId,
      database: input.database,
      kind: input.kind,
      ...(input.migrationId !== undefined ? { migrationId: input.migrationId } : {}),
      type: 'logical',
      format: LOGICAL_FORMAT,
      tool: { name: 'pgwarden', version: PGWARDEN_VERSION, pgDump: await pgDumpVersion },
      server: { version: server.version, versionNum: server.versionNum, systemIdentifier: server.systemIdentifier },
      source,
      startedAt: new Date(started).toISOString(),
      finishedAt: new Date().toISOString(),
      rawBytes: objects.reduce((sum, o) => sum + o.rawBytes, 0),
      storedBytes: objects.reduce((sum, o) => sum + o.storedBytes, 0),
      compression: { algorithm: COMPRESSION_NAME, level: config.backup.compressionLevel },
      encryption: dataKey.encryption,
      objects,
      tables: Object.fromEntries([...rowsByTable.entries()].sort(([a], [b]) => a.localeCompare(b))),
      temporal: { namespace: input.workflow.namespace, workflowId: input.workflow.workflowId, runId: input.workflow.runId },
      extensions,
      ...(input.neon ? { provider: neonProvenance(input.neon.point, db.settings.neon?.projectId) } : {}),
      ...(scope ? { provider: { name: 'supabase' as const, excludedSchemas: scope.schemaExcludes, excludedTables: scope.dataExcludeTables } } : {}),
    };
    await repo.putBytes(`${folder}${CHECKSUMS_FILE}`, checksumsFile(objects), { retainUntil });
    await writeManifest(repo, folder, manifest, { retainUntil });
    const output = summarize(manifest, repoName, Date.now() - started);
    // The first byte out of any stream: from pg_dump into Node, or out of a process chain's encryption.
    const firstByteAt = Math.min(...counters.map((c) => Math.min(c.raw?.firstByteAt ?? Infinity, c.stored?.firstByteAt ?? Infinity)));
    if (Number.isFinite(firstByteAt)) output.firstByteMs = firstByteAt - input.workflow.startedAtMs;
    return output;
  } catch (error) {
    // This attempt leaves nothing behind: a retry starts clean, and a final failure shows no half backup.
    // Unless Temporal already gave this attempt up: the next one may be writing into the folder by now.
    abort.abort(error);
    if (!reporter.superseded()) await discardIncomplete(repo, folder).catch(() => undefined);
    throw error;
  } finally {
    stopReporting();
    reporter.signal?.removeEventListener('abort', onCancel);
    await snapshotClient.query('ROLLBACK').catch(() => undefined);
    await snapshotClient.end().catch(() => undefined);
  }
}

/** What the progress report reads of one stream while it runs. */
interface StreamProgress {
  rawBytes: () => number;
  stored?: Sha256Meter;
  raw?: ByteCounter; // pg_dump streams: knows when the first byte came
}

/** Removes a backup folder's objects and unfinished uploads, unless its manifest says it is complete. */
async function discardIncomplete(repo: Repository, folder: string): Promise<number> {
  let removed = await repo.abortIncompleteWrites(folder);
  if (await repo.head(`${folder}${MANIFEST_FILE}`)) return removed;
  const keys: string[] = [];
  for await (const object of repo.list(folder)) keys.push(object.key);
  await repo.delete(keys);
  removed += keys.length;
  return removed;
}

/** ACCESS SHARE locks, held to the end: nobody drops or rewrites a table while its pieces are dumped. */
async function lockTables(client: pg.Client, tables: string[]): Promise<void> {
  if (tables.length === 0) return;
  await client.query(`SET LOCAL lock_timeout = '5min'`);
  try {
    for (let i = 0; i < tables.length; i += 500) {
      await client.query(`LOCK TABLE ${tables.slice(i, i + 500).join(', ')} IN ACCESS SHARE MODE`);
    }
  } catch (error) {
    throw new PgwardenError(
      'Failed',
      `Could not lock the tables for a consistent dump within 5 minutes: ${(error as Error).message}. A long-running schema change may hold them; try again after it.`,
      { cause: error, retryable: true },
    );
  }
}

function summarize(manifest: BackupManifest, repository: string, dumpMs: number): DumpLogicalOutput {
  const counts = Object.values(manifest.tables);
  return {
    backupId: manifest.id,
    repository,
    rawBytes: manifest.rawBytes,
    storedBytes: manifest.storedBytes,
    tables: counts.length,
    rows: counts.reduce((sum, n) => sum + n, 0),
    dumpMs,
  };
}

/** Whether a table's rows belong in a scoped dump (Supabase: not the platform's schemas or bookkeeping tables). */
function inDataScope(table: TableInfo, scope: DumpScope): boolean {
  return !matchesPattern(table.schema, scope.dataExcludes) && !scope.dataExcludeTables.includes(`${table.schema}.${table.table}`);
}

/** The instant a Neon backup holds, as the manifest records it. */
function neonProvenance(point: NeonBranchPoint, projectId: string | undefined): NonNullable<BackupManifest['provider']> {
  return {
    name: 'neon',
    ...(projectId ? { projectId } : {}),
    branchId: point.branchId,
    branchName: point.branchName,
    parentBranchId: point.parentId,
    ...(point.parentLsn ? { parentLsn: point.parentLsn } : {}),
    ...(point.parentTimestamp ? { parentTimestamp: point.parentTimestamp } : {}),
    branchCreatedAt: point.createdAt,
  };
}
