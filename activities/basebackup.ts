// Activities of the base backup workflow: a physical copy of the cluster (pg_basebackup, tar) streamed into the
// WAL archive's repository like logical backups, complete only once the WAL it needs is archived.
import { PgwardenError } from '../domain/errors.js';
import { databaseView } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { PGWARDEN_VERSION } from '../config/version.js';
import type { BaseBackupResult } from '../domain/basebackup.js';
import type { Progress } from '../domain/progress.js';
import { backupFolder, CHECKSUMS_FILE, checksumsFile, MANIFEST_FILE, MANIFEST_VERSION, readManifest, writeManifest, type BackupManifest } from './catalog/manifest.js';
import { newBackupKey } from './keys/backup-keys.js';
import { loadKeyring } from './keys/keyring.js';
import type { WalKeys } from './keys/wal-keys.js';
import { COMPRESSION_NAME } from './pipeline/compress.js';
import { byteCountStep, type Sha256Meter } from './pipeline/measure.js';
import type { Step } from './pipeline/chain.js';
import { sealInto } from './pipeline/seal.js';
import { pgTool } from './postgres/binaries.js';
import { libpqEnv, sourceEndpoint, withClient } from './postgres/connection.js';
import { toolFailure } from './postgres/dump.js';
import { serverInfo } from './postgres/inventory.js';
import { currentReporter, reportEvery } from './progress.js';
import type { Repository } from './storage/repository.js';
import { fetchWalBytes, readArchiveIdentity, walFolder, walKey, walNameOfKey } from './wal/archive.js';
import { formatLsn, parseLsn, segmentName, segnoOfLsn } from './wal/names.js';
import { openArchive, walRepositoryName } from './wal/open.js';

export const BASE_FORMAT = 'pg_basebackup-tar-v1';
export const BASE_OBJECT = 'base.tar.zst.gpg';

export interface TakeBaseBackupInput {
  database: string;
  backupId: string;
  workflow: { namespace: string; workflowId: string; runId: string; startedAtMs: number };
  /** How long to wait for the WAL the backup needs to reach the archive. */
  walWaitMs?: number;
}

/** What the activity reports; the workflow adds the database, its own duration and its ids. */
export type BaseBackupOutput = Omit<BaseBackupResult, 'database' | 'durationMs' | 'workflowId' | 'runId'>;

export function baseBackupActivities(config: Config) {
  return {
    /** What must be true before a base backup is worth starting: the archive is set up and belongs to this cluster. */
    async prepareBaseBackup(input: { database: string }): Promise<{ repository: string; serverVersion: string }> {
      databaseView(config, input.database);
      await loadKeyring(config);
      const { repo } = openArchive(config, input.database);
      await repo.check();
      const endpoint = sourceEndpoint(config, input.database);
      const { server, archiveMode } = await withClient(endpoint, 'base backup check', async (client) => ({
        server: await serverInfo(client),
        archiveMode: (await client.query<{ archive_mode: string }>('SHOW archive_mode')).rows[0]!.archive_mode,
      }));
      if (archiveMode === 'off') {
        throw new PgwardenError(
          'Config',
          `archive_mode is off on ${endpoint.display}: a base backup is useless without its WAL. Set archive_mode = on and ` +
            `archive_command = 'pgwarden --config /etc/pgwarden/pgwarden.yaml wal-push --db ${input.database} --async %p', then restart PostgreSQL.`,
        );
      }
      const identity = await readArchiveIdentity(repo, input.database);
      if (identity && identity.systemIdentifier !== server.systemIdentifier) {
        throw new PgwardenError(
          'Refused',
          `The WAL archive of "${input.database}" in repository "${repo.name}" belongs to cluster ${identity.systemIdentifier}, but ${endpoint.display} is cluster ${server.systemIdentifier}: ` +
            'a base backup of it could never be recovered with that archive. Check the connection of this database, or give the cluster its own entry.',
        );
      }
      await pgTool('pg_basebackup', server.major, config.postgres.binDir);
      return { repository: repo.name, serverVersion: server.version };
    },

    async takeBaseBackup(input: TakeBaseBackupInput): Promise<BaseBackupOutput> {
      return takeBaseBackup(config, input);
    },
  };
}

async function takeBaseBackup(config: Config, input: TakeBaseBackupInput): Promise<BaseBackupOutput> {
  const started = Date.now();
  const repoName = walRepositoryName(config, input.database);
  const { repo, keys, retainUntil: lockFor } = openArchive(config, input.database);
  const folder = backupFolder(input.database, 'base', input.backupId);
  const finished = await readManifest(repo, folder);
  if (finished) return summarize(finished, repoName, 0, 0);
  await repo.abortIncompleteWrites(folder);

  const endpoint = sourceEndpoint(config, input.database);
  const { server, estimate } = await withClient(endpoint, 'base backup', async (client) => ({
    server: await serverInfo(client),
    estimate: Number((await client.query<{ s: string }>('SELECT sum(pg_database_size(oid))::text AS s FROM pg_database')).rows[0]!.s),
  }));
  const pgBaseBackup = await pgTool('pg_basebackup', server.major, config.postgres.binDir);
  // Locked (where the bucket has Object Lock) as long as the PITR window needs it; the data key before the data.
  const retainUntil = lockFor(input.workflow.startedAtMs);
  const dataKey = await newBackupKey(config, repo, folder, retainUntil);
  const reporter = currentReporter();
  const raw = { bytes: 0 };
  let stored: Sha256Meter | undefined;
  let phase = 'copying files';
  let walDone = 0;
  let walTotal = 0;
  const stop = reportEvery(reporter, (): Progress => ({
    phase,
    bytesDone: raw.bytes,
    bytesTotal: estimate,
    ...(stored ? { storedBytes: stored.bytes } : {}),
    ...(walTotal ? { itemsDone: walDone, itemsTotal: walTotal } : {}),
  }));

  try {
    // Where WAL is now: the backup starts at or after it, so its .backup history file is found from here on.
    const before = await withClient(endpoint, 'base backup', async (client) => (await client.query<{ f: string }>('SELECT pg_walfile_name(pg_current_wal_lsn()) AS f')).rows[0]!.f);
    // One tar stream of the data directory (WAL comes from the archive: -X none; --checkpoint=fast starts now),
    // through dd (counting) into zstd and gpg: the files never pass through Node.
    const label = `pgwarden ${input.backupId}`;
    const producers: Step[] = [
      {
        command: pgBaseBackup,
        args: ['-D', '-', '-Ft', '-X', 'none', '--checkpoint=fast', '--no-password', `--label=${label}`],
        env: libpqEnv(endpoint),
        label: 'pg_basebackup',
        explain: (stderr, code) => {
          const failure = toolFailure('pg_basebackup', `database "${input.database}"`, { stderr, exitCode: code ?? undefined });
          if (/single tablespace/.test(stderr)) return new PgwardenError('Refused', `${failure.message}\n  pgwarden's base backups do not support additional tablespaces yet.`);
          if (/replication/.test(stderr)) {
            return new PgwardenError('Config', `${failure.message}\n  The user needs the REPLICATION attribute and a "host replication" line in pg_hba.conf.`);
          }
          return failure;
        },
      },
      byteCountStep(raw),
    ];
    const sealed = await sealInto(repo, `${folder}${BASE_OBJECT}`, producers, { compression: { level: config.backup.compressionLevel, threads: 0 }, passphrase: dataKey.secret, dataKey: true }, {
      ...(reporter.signal ? { signal: reporter.signal } : {}),
      onMeter: (meter) => (stored = meter),
      retainUntil,
    });
    const copyMs = Date.now() - started;

    // pg_backup_stop wrote a backup history file with the WAL range; it reaches the archive through
    // archive_command like every WAL file, so reading it from there also shows that archiving works.
    phase = 'waiting for the WAL it needs to be archived';
    const walStarted = Date.now();
    const history = await findBackupHistory(repo, input.database, before, label, keys, input.walWaitMs ?? 10 * 60_000, reporter.signal);
    const startLsn = /START WAL LOCATION: (\S+)/.exec(history)?.[1];
    const stopLsn = /STOP WAL LOCATION: (\S+)/.exec(history)?.[1];
    const timeline = Number(/START TIMELINE: (\d+)/.exec(history)?.[1]);
    if (!startLsn || !stopLsn || !timeline) {
      throw new PgwardenError('Failed', `The backup history file of ${input.backupId} does not say which WAL the backup needs:\n${history}`);
    }
    const segmentSize = (await readArchiveIdentity(repo, input.database))?.segmentSize || 16 * 1024 * 1024;
    const startSegno = segnoOfLsn(parseLsn(startLsn), segmentSize);
    const stopSegno = segnoOfLsn(parseLsn(stopLsn) - 1n, segmentSize);

    // Complete only when every segment from start to stop is archived: until then it could never be restored.
    const needed: string[] = [];
    for (let segno = startSegno; segno <= stopSegno; segno += 1n) needed.push(segmentName(timeline, segno, segmentSize));
    walTotal = needed.length;
    await waitForArchive(repo, input.database, needed, input.walWaitMs ?? 10 * 60_000, () => (walDone += 1), reporter.signal);
    const walWaitMs = Date.now() - walStarted;

    phase = 'writing manifest';
    const objects = [{ name: BASE_OBJECT, role: 'base' as const, format: 'tar', rawBytes: raw.bytes, storedBytes: sealed.storedBytes, sha256: sealed.sha256 }];
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
      rawBytes: raw.bytes,
      storedBytes: sealed.storedBytes,
      compression: { algorithm: COMPRESSION_NAME, level: config.backup.compressionLevel },
      encryption: dataKey.encryption,
      objects,
      tables: {},
      temporal: { namespace: input.workflow.namespace, workflowId: input.workflow.workflowId, runId: input.workflow.runId },
      base: {
        startLsn: formatLsn(parseLsn(startLsn)),
        stopLsn: formatLsn(parseLsn(stopLsn)),
        timeline,
        startWal: needed[0]!,
        stopWal: needed.at(-1)!,
        startTime: new Date(started).toISOString(),
        stopTime: new Date(walStarted).toISOString(),
      },
    };
    await repo.putBytes(`${folder}${CHECKSUMS_FILE}`, checksumsFile(objects), { retainUntil });
    await writeManifest(repo, folder, manifest, { retainUntil });
    const output = summarize(manifest, repoName, copyMs, walWaitMs);
    return output;
  } catch (error) {
    await repo.abortIncompleteWrites(folder).catch(() => undefined);
    if (!(await repo.head(`${folder}${MANIFEST_FILE}`).catch(() => undefined))) {
      const keys: string[] = [];
      for await (const object of repo.list(folder)) keys.push(object.key);
      await repo.delete(keys).catch(() => undefined);
    }
    throw error;
  } finally {
    stop();
    await keys.close();
  }
}

/** Waits for the backup history file (NNN.OFFSET.backup) whose LABEL is `label`, from segment `from` on; its text. */
async function findBackupHistory(
  repo: Repository,
  database: string,
  from: string,
  label: string,
  keys: WalKeys,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  const seen = new Set<string>();
  for (;;) {
    for await (const object of repo.list(`${walFolder(database)}${from.slice(0, 8)}`)) {
      const name = walNameOfKey(database, object.key);
      if (!name?.endsWith('.backup') || name < from || seen.has(name)) continue;
      seen.add(name);
      const text = (await fetchWalBytes(repo, database, name, keys))?.toString('utf8') ?? '';
      if (text.split('\n').some((line) => line.trim() === `LABEL: ${label}`)) return text;
    }
    if (signal?.aborted) throw new PgwardenError('Failed', 'Cancelled while waiting for WAL to be archived.', { retryable: false });
    if (Date.now() > deadline) {
      throw new PgwardenError(
        'Failed',
        `The backup history file of the base backup ("${label}") did not reach the archive within ${Math.round(timeoutMs / 60_000)} min: ` +
          `is archive_command running \`pgwarden wal-push --db ${database}\`? Look at the PostgreSQL log and \`pgwarden wal status --db ${database}\`.`,
        { retryable: false },
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

async function waitForArchive(repo: Repository, database: string, names: string[], timeoutMs: number, onArchived: () => void, signal?: AbortSignal): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (const name of names) {
    while (!(await repo.head(walKey(database, name)))) {
      if (signal?.aborted) throw new PgwardenError('Failed', 'Cancelled while waiting for WAL to be archived.', { retryable: false });
      if (Date.now() > deadline) {
        throw new PgwardenError(
          'Failed',
          `WAL segment ${name}, which the base backup needs, did not reach the archive within ${Math.round(timeoutMs / 60_000)} min: ` +
            `is archive_command running \`pgwarden wal-push --db ${database}\`? Look at the PostgreSQL log and \`pgwarden wal status --db ${database}\`.`,
          { retryable: false },
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    onArchived();
  }
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
