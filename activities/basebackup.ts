// Activities of the base backup workflow: a physical copy of the cluster (pg_basebackup, tar) streamed into the
// WAL archive's repository like logical backups, complete only once the WAL it needs is archived.
import { PgwardenError } from '../config/errors.js';
import { databaseView } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { resolvePassphrase } from '../config/secrets.js';
import { PGWARDEN_VERSION } from '../config/version.js';
import type { Progress } from '../workflows/messages.js';
import { backupFolder, CHECKSUMS_FILE, checksumsFile, MANIFEST_FILE, readManifest, writeManifest, type BackupManifest } from './catalog/manifest.js';
import { COMPRESSION_NAME } from './pipeline/compress.js';
import { ENCRYPTION_SCHEME, keyFingerprint } from './pipeline/encrypt.js';
import { ByteCounter, type Sha256Meter } from './pipeline/measure.js';
import { sealInto } from './pipeline/seal.js';
import { TarWatcher } from './pipeline/tar-watch.js';
import { pgTool } from './postgres/binaries.js';
import { libpqEnv, sourceEndpoint, withClient } from './postgres/connection.js';
import { toolFailure } from './postgres/dump.js';
import { serverInfo } from './postgres/inventory.js';
import { currentReporter, reportEvery } from './progress.js';
import type { Repository } from './storage/repository.js';
import { readArchiveIdentity, walKey } from './wal/archive.js';
import { formatLsn, parseLsn, segmentName, segnoOfLsn } from './wal/names.js';
import { openArchive, walRepositoryName } from './wal/open.js';
import { execa } from 'execa';

export const BASE_FORMAT = 'pg_basebackup-tar-v1';
export const BASE_OBJECT = 'base.tar.zst.gpg';

export interface TakeBaseBackupInput {
  database: string;
  backupId: string;
  workflow: { namespace: string; workflowId: string; runId: string; startedAtMs: number };
  /** How long to wait for the WAL the backup needs to reach the archive. */
  walWaitMs?: number;
}

export interface BaseBackupOutput {
  backupId: string;
  repository: string;
  rawBytes: number;
  storedBytes: number;
  startLsn: string;
  stopLsn: string;
  timeline: number;
  startWal: string;
  stopWal: string;
  copyMs: number;
  walWaitMs: number;
  firstByteMs?: number;
}

export function baseBackupActivities(config: Config) {
  return {
    /** What must be true before a base backup is worth starting: the archive is set up and belongs to this cluster. */
    async prepareBaseBackup(input: { database: string }): Promise<{ repository: string; serverVersion: string }> {
      databaseView(config, input.database);
      resolvePassphrase(config);
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
  const { repo, settings } = openArchive(config, input.database);
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
  const fingerprint = await keyFingerprint(settings.passphrase);
  const reporter = currentReporter();
  const raw = new ByteCounter();
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
    // One tar stream of the data directory; WAL comes from the archive (-X none). --checkpoint=fast: start now.
    const child = execa(pgBaseBackup, ['-D', '-', '-Ft', '-X', 'none', '--checkpoint=fast', '--no-password', `--label=pgwarden ${input.backupId}`], {
      env: libpqEnv(endpoint),
      stdin: 'ignore',
      stdout: 'pipe',
      stderr: 'pipe',
      buffer: { stdout: false, stderr: true },
      ...(reporter.signal ? { cancelSignal: reporter.signal } : {}),
    });
    child.catch(() => undefined);
    const tar = new TarWatcher(new Set(['backup_label', 'backup_manifest']));
    let sealed;
    try {
      sealed = await sealInto(repo, `${folder}${BASE_OBJECT}`, child.readable({ from: 'stdout' }), { ...settings, compression: { level: config.backup.compressionLevel, threads: 0 } }, {
        taps: [raw, tar],
        ...(reporter.signal ? { signal: reporter.signal } : {}),
        onMeter: (meter) => (stored = meter),
      });
    } catch (error) {
      const exit = await child.catch((e: unknown) => e);
      if ((exit as { exitCode?: number })?.exitCode) {
        const failure = toolFailure('pg_basebackup', `database "${input.database}"`, exit);
        if (/single tablespace/.test(failure.message)) {
          throw new PgwardenError('Refused', `${failure.message}\n  pgwarden's base backups do not support additional tablespaces yet.`);
        }
        if (/replication/.test(failure.message)) {
          throw new PgwardenError('Config', `${failure.message}\n  The user needs the REPLICATION attribute and a "host replication" line in pg_hba.conf.`);
        }
        throw failure;
      }
      throw error;
    }
    const copyMs = Date.now() - started;

    const label = tar.found.get('backup_label')?.toString('utf8') ?? '';
    const startLsn = /START WAL LOCATION: (\S+)/.exec(label)?.[1];
    const timeline = Number(/START TIMELINE: (\d+)/.exec(label)?.[1]);
    const manifestJson = tar.found.get('backup_manifest');
    const ranges = manifestJson ? (JSON.parse(manifestJson.toString('utf8'))['WAL-Ranges'] as Array<{ Timeline: number; 'Start-LSN': string; 'End-LSN': string }>) : [];
    const stopLsn = ranges.at(-1)?.['End-LSN'];
    if (!startLsn || !stopLsn || !timeline) {
      throw new PgwardenError('Failed', 'pg_basebackup finished, but its backup_label/backup_manifest did not say which WAL the backup needs: not recording it as a backup.');
    }
    const segmentSize = (await readArchiveIdentity(repo, input.database))?.segmentSize || 16 * 1024 * 1024;
    const startSegno = segnoOfLsn(parseLsn(startLsn), segmentSize);
    const stopSegno = segnoOfLsn(parseLsn(stopLsn) - 1n, segmentSize);

    // Complete only when every segment from start to stop is archived: until then it could never be restored.
    phase = 'waiting for the WAL it needs to be archived';
    const walStarted = Date.now();
    const needed: string[] = [];
    for (let segno = startSegno; segno <= stopSegno; segno += 1n) needed.push(segmentName(timeline, segno, segmentSize));
    walTotal = needed.length;
    await waitForArchive(repo, input.database, needed, input.walWaitMs ?? 10 * 60_000, () => (walDone += 1), reporter.signal);
    const walWaitMs = Date.now() - walStarted;

    phase = 'writing manifest';
    const objects = [{ name: BASE_OBJECT, role: 'base' as const, format: 'tar', rawBytes: raw.bytes, storedBytes: sealed.storedBytes, sha256: sealed.sha256 }];
    const manifest: BackupManifest = {
      manifestVersion: 1,
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
      encryption: { scheme: ENCRYPTION_SCHEME, keyFingerprint: fingerprint },
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
    await repo.putBytes(`${folder}${CHECKSUMS_FILE}`, checksumsFile(objects));
    await writeManifest(repo, folder, manifest);
    const output = summarize(manifest, repoName, copyMs, walWaitMs);
    if (raw.firstByteAt !== undefined) output.firstByteMs = raw.firstByteAt - input.workflow.startedAtMs;
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
