// Taking a base backup: one tar stream of the data directory sealed into the WAL archive's repository, then the
// WAL range it needs read from its backup history file and waited for, then the manifest.
import { PgwardenError } from '../../domain/errors.js';
import { PGWARDEN_VERSION } from '../../config/version.js';
import type { BaseBackupResult } from '../../domain/basebackup.js';
import type { Progress } from '../../domain/progress.js';
import { discardIncomplete } from '../catalog/discard.js';
import { backupFolder, CHECKSUMS_FILE, checksumsFile, MANIFEST_VERSION, readManifest, writeManifest, type BackupManifest } from '../catalog/manifest.js';
import type { DatabaseContext } from '../database-context.js';
import { newBackupKey } from '../keys/backup-keys.js';
import type { WalKeys } from '../keys/wal-keys.js';
import { COMPRESSION_NAME } from '../pipeline/compress.js';
import { FilterGroup, rawSizeStep } from '../pipeline/filters.js';
import type { Step } from '../pipeline/chain.js';
import { sealInto } from '../pipeline/seal.js';
import { pgTool } from '../postgres/binaries.js';
import { libpqEnv, withClient, type PgEndpoint } from '../postgres/connection.js';
import { toolFailure } from '../postgres/dump.js';
import { serverInfo } from '../postgres/inventory.js';
import { currentReporter, reportEvery } from '../progress.js';
import type { Repository } from '../storage/repository.js';
import { readArchiveIdentity } from '../wal/archive.js';
import { formatLsn, parseLsn, segmentName, segnoOfLsn } from '../wal/names.js';
import { findBackupHistory, waitForArchive } from './wait.js';

export const BASE_FORMAT = 'pg_basebackup-tar-v1';
export const BASE_OBJECT = 'base.tar.zst.gpg';

/** How long a base backup waits for its WAL to reach the archive unless the workflow says otherwise. */
const DEFAULT_WAL_WAIT_MS = 10 * 60_000;

export interface TakeBaseBackupInput {
  database: string;
  backupId: string;
  workflow: { namespace: string; workflowId: string; runId: string; startedAtMs: number };
  /** How long to wait for the WAL the backup needs to reach the archive. */
  walWaitMs?: number;
}

/** What the activity reports; the workflow adds the database, its own duration and its ids. */
export type BaseBackupOutput = Omit<BaseBackupResult, 'database' | 'durationMs' | 'workflowId' | 'runId'>;

/** The WAL range a base backup needs, as its backup history file names it. */
interface NeededWal {
  startLsn: string;
  stopLsn: string;
  timeline: number;
  segments: string[];
}

// One function for one attempt's life (retry check, copy, WAL wait, manifest) inside the clean-up that wraps it all.
export async function takeBaseBackup(db: DatabaseContext, input: TakeBaseBackupInput): Promise<BaseBackupOutput> {
  const config = db.config;
  const started = Date.now();
  const repoName = db.walRepository;
  const { repo, keys, retainUntil: lockFor } = db.archive();
  const folder = backupFolder(input.database, 'base', input.backupId);
  const finished = await readManifest(repo, folder);
  if (finished) return summarize(finished, repoName, 0, 0);
  await repo.abortIncompleteWrites(folder);

  const endpoint = db.source();
  const { server, estimate } = await withClient(endpoint, 'base backup', async (client) => ({
    server: await serverInfo(client),
    estimate: Number((await client.query<{ s: string }>('SELECT sum(pg_database_size(oid))::text AS s FROM pg_database')).rows[0]!.s),
  }));
  const pgBaseBackup = await pgTool('pg_basebackup', server.major, config.postgres.binDir);
  // Locked (where the bucket has Object Lock) as long as the PITR window needs it; the data key before the data.
  const retainUntil = lockFor(input.workflow.startedAtMs);
  const dataKey = await newBackupKey(config, repo, folder, retainUntil);
  const reporter = currentReporter();
  const filters = new FilterGroup().add(rawSizeStep());
  let phase = 'copying files';
  let walDone = 0;
  let walTotal = 0;
  const stop = reportEvery(reporter, (): Progress => ({
    phase,
    bytesDone: filters.bytes('raw-size'),
    bytesTotal: estimate,
    ...(filters.measures('stored-size') ? { storedBytes: filters.bytes('stored-size') } : {}),
    ...(walTotal ? { itemsDone: walDone, itemsTotal: walTotal } : {}),
  }));

  try {
    // Where WAL is now: the backup starts at or after it, so its .backup history file is found from here on.
    const before = await withClient(endpoint, 'base backup', async (client) => (await client.query<{ f: string }>('SELECT pg_walfile_name(pg_current_wal_lsn()) AS f')).rows[0]!.f);
    // One tar stream of the data directory (WAL comes from the archive: -X none; --checkpoint=fast starts now),
    // through dd (counting) into zstd and gpg: the files never pass through Node.
    const label = `pgwarden ${input.backupId}`;
    await sealInto(repo, `${folder}${BASE_OBJECT}`, [pgBaseBackupStep(pgBaseBackup, endpoint, label, input.database)], { compression: { level: config.backup.compressionLevel, threads: 0 }, passphrase: dataKey.secret, dataKey: true }, {
      ...(reporter.signal ? { signal: reporter.signal } : {}),
      filters,
      retainUntil,
    });
    const copyMs = Date.now() - started;

    // pg_backup_stop wrote a backup history file with the WAL range; it reaches the archive through
    // archive_command like every WAL file, so reading it from there also shows that archiving works.
    phase = 'waiting for the WAL it needs to be archived';
    const walStarted = Date.now();
    const walWaitLimitMs = input.walWaitMs ?? DEFAULT_WAL_WAIT_MS;
    const wal = await neededWal(repo, input, before, label, keys, walWaitLimitMs, reporter.signal);
    // Complete only when every segment from start to stop is archived: until then it could never be restored.
    walTotal = wal.segments.length;
    await waitForArchive(repo, input.database, wal.segments, walWaitLimitMs, () => (walDone += 1), reporter.signal);
    const walWaitMs = Date.now() - walStarted;

    phase = 'writing manifest';
    const objects = [{ name: BASE_OBJECT, role: 'base' as const, format: 'tar', rawBytes: filters.result('raw-size'), storedBytes: filters.result('stored-size'), sha256: filters.result('sha256') }];
    const manifest: BackupManifest = {
      manifestVersion: MANIFEST_VERSION,
      id: input.backupId,
      database: input.database,
      kind: 'base',
      type: 'base',
      format: BASE_FORMAT,
      tool: { name: 'pgwarden', version: PGWARDEN_VERSION },
      server: { version: server.version, versionNum: server.versionNum, systemIdentifier: server.systemIdentifier },
      startedAt: new Date(started).toISOString(),
      finishedAt: new Date().toISOString(),
      rawBytes: filters.result('raw-size'),
      storedBytes: filters.result('stored-size'),
      compression: { algorithm: COMPRESSION_NAME, level: config.backup.compressionLevel },
      encryption: dataKey.encryption,
      objects,
      tables: {},
      temporal: { namespace: input.workflow.namespace, workflowId: input.workflow.workflowId, runId: input.workflow.runId },
      base: {
        startLsn: formatLsn(parseLsn(wal.startLsn)),
        stopLsn: formatLsn(parseLsn(wal.stopLsn)),
        timeline: wal.timeline,
        startWal: wal.segments[0]!,
        stopWal: wal.segments.at(-1)!,
        startTime: new Date(started).toISOString(),
        stopTime: new Date(walStarted).toISOString(),
      },
    };
    await repo.putBytes(`${folder}${CHECKSUMS_FILE}`, checksumsFile(objects), { retainUntil });
    await writeManifest(repo, folder, manifest, { retainUntil });
    return summarize(manifest, repoName, copyMs, walWaitMs);
  } catch (error) {
    // The same clean-up as a failed logical dump: nothing half-written stays behind a backup id. Unless Temporal
    // already gave this attempt up: the next one may be uploading into the folder, under a data key of its own.
    if (!reporter.superseded()) await discardIncomplete(repo, folder).catch(() => undefined);
    throw error;
  } finally {
    stop();
    await keys.close();
  }
}

/** pg_basebackup writing one tar stream to stdout, its failures worded for the person who must fix them. */
function pgBaseBackupStep(pgBaseBackup: string, endpoint: PgEndpoint, label: string, database: string): Step {
  return {
    command: pgBaseBackup,
    args: ['-D', '-', '-Ft', '-X', 'none', '--checkpoint=fast', '--no-password', `--label=${label}`],
    env: libpqEnv(endpoint),
    label: 'pg_basebackup',
    explain: (stderr, code) => {
      const failure = toolFailure('pg_basebackup', `database "${database}"`, { stderr, exitCode: code ?? undefined });
      if (/single tablespace/.test(stderr)) return new PgwardenError('Refused', `${failure.message}\n  pgwarden's base backups do not support additional tablespaces yet.`);
      if (/replication/.test(stderr)) {
        return new PgwardenError('Config', `${failure.message}\n  The user needs the REPLICATION attribute and a "host replication" line in pg_hba.conf.`);
      }
      return failure;
    },
  };
}

/** Reads the backup's history file from the archive (waiting for it) and names every segment from start to stop. */
async function neededWal(repo: Repository, input: TakeBaseBackupInput, before: string, label: string, keys: WalKeys, timeoutMs: number, signal?: AbortSignal): Promise<NeededWal> {
  const history = await findBackupHistory(repo, input.database, before, label, keys, timeoutMs, signal);
  const startLsn = /START WAL LOCATION: (\S+)/.exec(history)?.[1];
  const stopLsn = /STOP WAL LOCATION: (\S+)/.exec(history)?.[1];
  const timeline = Number(/START TIMELINE: (\d+)/.exec(history)?.[1]);
  if (!startLsn || !stopLsn || !timeline) {
    throw new PgwardenError('Failed', `The backup history file of ${input.backupId} does not say which WAL the backup needs:\n${history}`);
  }
  const segmentSize = (await readArchiveIdentity(repo, input.database))?.segmentSize || 16 * 1024 * 1024;
  const startSegno = segnoOfLsn(parseLsn(startLsn), segmentSize);
  const stopSegno = segnoOfLsn(parseLsn(stopLsn) - 1n, segmentSize);
  const segments: string[] = [];
  for (let segno = startSegno; segno <= stopSegno; segno += 1n) segments.push(segmentName(timeline, segno, segmentSize));
  return { startLsn, stopLsn, timeline, segments };
}

function summarize(manifest: BackupManifest, repository: string, copyMs: number, walWaitMs: number): BaseBackupOutput {
  const base = manifest.base!;
  return {
    backupId: manifest.id,
    repository,
    rawBytes: manifest.rawBytes,
    storedBytes: manifest.storedBytes,
    startLsn: base.startLsn,
    stopLsn: base.stopLsn,
    timeline: base.timeline,
    startWal: base.startWal,
    stopWal: base.stopWal,
    copyMs,
    walWaitMs,
  };
}
