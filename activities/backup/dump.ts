// The logical dump: one snapshot, its tables split into streams that run in parallel, each sealed (compressed,
// encrypted, checksummed) into the repository; the manifest last. A failed attempt leaves nothing behind.
import type pg from 'pg';
import { execa } from 'execa';
import { PgwardenError } from '../../domain/errors.js';
import { PGWARDEN_VERSION } from '../../config/version.js';
import type { Progress } from '../../domain/progress.js';
import { discardIncomplete } from '../catalog/discard.js';
import { backupFolder, CHECKSUMS_FILE, checksumsFile, MANIFEST_VERSION, readManifest, writeManifest, type BackupManifest, type StoredObjectEntry } from '../catalog/manifest.js';
import type { DatabaseContext } from '../database-context.js';
import { newBackupKey } from '../keys/backup-keys.js';
import { COMPRESSION_NAME } from '../pipeline/compress.js';
import { FilterGroup } from '../pipeline/filters.js';
import { pgTool } from '../postgres/binaries.js';
import { connect, libpqEnv } from '../postgres/connection.js';
import { LOGICAL_FORMAT, planDumpStreams, type DumpStream } from '../postgres/dump.js';
import { copyColumns, databaseInfo, listExtensions, listTables, serverInfo, type TableInfo } from '../postgres/inventory.js';
import type { NeonBranchPoint } from '../providers/neon/backup-branch.js';
import { managedTableExtras, matchesPattern, SUPABASE_SCOPE, type DumpScope } from '../providers/supabase.js';
import { childEnvironment } from '../process-environment.js';
import { currentReporter, inParallel, reportEvery } from '../progress.js';
import { logicalRetainUntil } from '../storage/lock.js';
import type { DumpLogicalInput, DumpLogicalOutput } from './inputs.js';
import { sealStream, sealSupabaseExtras, type DumpRun } from './streams.js';

// One function for one attempt's whole life (retry check, snapshot, streams, manifest, clean-up): its parts are
// the helpers below and streams.ts; what stays here is the order and the clean-up that must wrap all of it.
export async function dumpLogical(db: DatabaseContext, input: DumpLogicalInput): Promise<DumpLogicalOutput> {
  const config = db.config;
  const started = Date.now();
  const repoName = input.repository ?? db.view.repositoriesFor(input.kind)[0]!;
  const repo = db.repository(repoName);
  const folder = backupFolder(input.database, 'logical', input.backupId);
  const reporter = currentReporter();

  // A retry after the manifest was written: the backup is complete, do not dump it again.
  const finished = await readManifest(repo, folder);
  if (finished && finished.temporal && finished.temporal.runId !== input.workflow.runId) {
    // Never hand out another run's backup as this one: it would miss what was committed since.
    throw new PgwardenError('Failed', `Backup id ${input.backupId} already belongs to workflow run ${finished.temporal.runId} in repository "${repoName}": start the backup again.`, { retryable: false });
  }
  // The attempt that dumped recorded its own duration in the manifest; this one only read it (a lost completion,
  // e.g. across a Temporal restart).
  if (finished) return summarize(finished, repoName, Date.parse(finished.finishedAt) - Date.parse(finished.startedAt));
  // A crashed attempt (worker killed) left objects that the catch below never removed, maybe under names this
  // attempt's plan does not produce: start from an empty folder, so the manifest and SHA256SUMS list all it holds.
  await discardIncomplete(repo, folder);

  // Locked (where the bucket has Object Lock) until retention would remove it; the data key before any object.
  const retainUntil = logicalRetainUntil(config, input.kind, input.workflow.startedAtMs);
  const dataKey = await newBackupKey(config, repo, folder, retainUntil);
  const endpoint = await db.dumpSource(input.neon);
  const scope = db.settings.provider === 'supabase' ? SUPABASE_SCOPE : undefined;
  const env = libpqEnv(endpoint);
  const snapshotClient = await connect(endpoint, 'backup snapshot');
  const abort = new AbortController();
  const onCancel = () => abort.abort(reporter.signal?.reason);
  reporter.signal?.addEventListener('abort', onCancel, { once: true });

  const paths: FilterGroup[] = [];
  let streamsDone = 0;
  let streams: DumpStream[] = [];
  let estimatedBytes = 0;
  const stopReporting = reportEvery(reporter, (): Progress => ({
    phase: streams.length === 0 ? 'planning' : streamsDone < streams.length ? 'dumping' : 'writing manifest',
    bytesDone: paths.reduce((sum, p) => sum + p.bytes('raw-size'), 0),
    bytesTotal: estimatedBytes || undefined,
    storedBytes: paths.reduce((sum, p) => sum + p.bytes('stored-size'), 0),
    itemsDone: streamsDone,
    itemsTotal: streams.length,
  }));

  try {
    const snap = await takeSnapshot(snapshotClient, scope);
    const { server, source, tables } = snap;
    const pgDump = await pgTool('pg_dump', server.major, config.postgres.binDir);
    const pgDumpVersion = execa(pgDump, ['--version'], { env: childEnvironment(), extendEnv: false }).then((r) => r.stdout.replace(/^pg_dump \(PostgreSQL\) /, ''));

    streams = planDumpStreams(tables, {
      splitBytes: config.backup.splitTableMiB * 1024 * 1024,
      chunkBytes: config.backup.chunkMiB * 1024 * 1024,
      serverMajor: server.major,
      ...(scope ? { scope } : {}),
    });
    const copied = [...new Map(streams.flatMap((st) => st.copies ?? []).map((c) => [c.table.name, c.table])).values()];
    estimatedBytes = tables.reduce((sum, t) => sum + t.bytes, 0);
    const run: DumpRun = {
      database: input.database,
      repo,
      folder,
      settings: { compression: { level: config.backup.compressionLevel, threads: config.backup.compressionThreads }, passphrase: dataKey.secret, dataKey: true },
      retainUntil,
      abort,
      env,
      snapshot: snap.snapshot,
      encoding: source.encoding,
      pgDump,
      columns: copied.length ? await copyColumns(snapshotClient, copied) : new Map<string, string[]>(),
      psql: copied.length ? await pgTool('psql', server.major, config.postgres.binDir) : '',
      rowsByTable: new Map<string, number>(),
    };

    // Largest first, so the longest stream starts at once; schema streams are small and go first anyway.
    const order = [...streams].sort((a, b) => (a.role === 'pre-data' ? -1 : b.role === 'pre-data' ? 1 : b.estimatedBytes - a.estimatedBytes));
    const stored = await inParallel(order, config.backup.jobs, async (stream) => {
      const filters = new FilterGroup();
      paths.push(filters);
      const entry = await sealStream(run, stream, filters);
      streamsDone += 1;
      return entry;
    });

    const objects = streams.map((s) => stored[order.indexOf(s)]!);
    if (scope) await sealSupabaseExtras(run, objects, endpoint.database, await pgTool('pg_dumpall', server.major, config.postgres.binDir), snap.extras!);
    const manifest = logicalManifest(db, input, { started, snap, objects, rowsByTable: run.rowsByTable, encryption: dataKey.encryption, pgDump: await pgDumpVersion, scope });
    await repo.putBytes(`${folder}${CHECKSUMS_FILE}`, checksumsFile(objects), { retainUntil });
    await writeManifest(repo, folder, manifest, { retainUntil });
    const output = summarize(manifest, repoName, Date.now() - started);
    // The first byte out of any stream: from pg_dump into Node, or out of a process chain's encryption.
    const firstByteAt = Math.min(...paths.map((p) => p.firstByteAt() ?? Infinity));
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

type Snapshot = Awaited<ReturnType<typeof takeSnapshot>>;

/**
 * Opens the snapshot every stream dumps from (repeatable read, the tables locked against DROP and rewrites) and
 * reads what the manifest records of it: the server, the database's encoding and locale, its tables in scope,
 * its extensions and (Supabase) what the user made on the platform's tables.
 */
async function takeSnapshot(client: pg.Client, scope: DumpScope | undefined) {
  await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY');
  const server = await serverInfo(client);
  const source = await databaseInfo(client);
  const tables = (await listTables(client)).filter((t) => !scope || inDataScope(t, scope));
  const extensions = await listExtensions(client);
  const extras = scope ? await managedTableExtras(client) : undefined;
  await lockTables(client, tables.map((t) => t.name));
  const snapshot = (await client.query<{ s: string }>('SELECT pg_export_snapshot() AS s')).rows[0]!.s;
  return { server, source, tables, extensions, extras, snapshot };
}

/** The manifest of a finished dump: what it holds, where it came from, how to open it, and the audit link. */
function logicalManifest(
  db: DatabaseContext,
  input: DumpLogicalInput,
  parts: {
    started: number;
    snap: Snapshot;
    objects: StoredObjectEntry[];
    rowsByTable: Map<string, number>;
    encryption: BackupManifest['encryption'];
    pgDump: string;
    scope: DumpScope | undefined;
  },
): BackupManifest {
  const { snap, objects } = parts;
  const server = snap.server;
  return {
    manifestVersion: MANIFEST_VERSION,
    id: input.backupId,
    database: input.database,
    kind: input.kind,
    ...(input.migrationId !== undefined ? { migrationId: input.migrationId } : {}),
    type: 'logical',
    format: LOGICAL_FORMAT,
    tool: { name: 'pgwarden', version: PGWARDEN_VERSION, pgDump: parts.pgDump },
    server: { version: server.version, versionNum: server.versionNum, systemIdentifier: server.systemIdentifier },
    source: snap.source,
    startedAt: new Date(parts.started).toISOString(),
    finishedAt: new Date().toISOString(),
    rawBytes: objects.reduce((sum, o) => sum + o.rawBytes, 0),
    storedBytes: objects.reduce((sum, o) => sum + o.storedBytes, 0),
    compression: { algorithm: COMPRESSION_NAME, level: db.config.backup.compressionLevel },
    encryption: parts.encryption,
    objects,
    tables: Object.fromEntries([...parts.rowsByTable.entries()].sort(([a], [b]) => a.localeCompare(b))),
    tableBytes: Object.fromEntries(snap.tables.filter((t) => parts.rowsByTable.has(t.name)).map((t) => [t.name, t.bytes] as const).sort(([a], [b]) => a.localeCompare(b))),
    temporal: { namespace: input.workflow.namespace, workflowId: input.workflow.workflowId, runId: input.workflow.runId },
    extensions: snap.extensions,
    ...(input.neon ? { provider: neonProvenance(input.neon.point, db.settings.neon?.projectId) } : {}),
    ...(parts.scope ? { provider: { name: 'supabase' as const, excludedSchemas: parts.scope.schemaExcludes, excludedTables: parts.scope.dataExcludeTables } } : {}),
  };
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

