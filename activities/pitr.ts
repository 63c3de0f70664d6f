// Activities of the point-in-time restore workflow: plan (and refuse what the archive cannot do) before anything
// is written, restore a base backup into a NEW data directory, recover it to the target through wal-fetch,
// promote, verify. The cluster the backup came from is never touched.
import { chownSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync, appendFileSync, rmSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import pg from 'pg';
import { parse as parseUrl } from 'pg-connection-string';
import { stringify } from 'yaml';
import { PgwardenError } from '../config/errors.js';
import { databaseView } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { passphraseEnvVars } from '../config/secrets.js';
import type { Progress } from '../workflows/messages.js';
import { findBackup, listBackups } from './catalog/list.js';
import { backupFolder, type BackupManifest } from './catalog/manifest.js';
import { keyForBackup, objectSecretOf } from './keys/backup-keys.js';
import type { WalKeys } from './keys/wal-keys.js';
import { unsealInto } from './pipeline/seal.js';
import type { Step } from './pipeline/chain.js';
import { serverBinDir } from './postgres/binaries.js';
import { clusterUser, freePort, LocalCluster, portIsFree, type OsUser } from './postgres/cluster.js';
import { openClient, sourceEndpoint } from './postgres/connection.js';
import { currentReporter, inParallel, reportEvery } from './progress.js';
import { MISSING } from './wal/spool.js';
import { BASE_OBJECT } from './basebackup.js';
import { fetchWalBytes, readArchiveIdentity } from './wal/archive.js';
import { WalFeeder } from './wal/feeder.js';
import { closedAt, coverage, listArchive, recoveryPath } from './wal/coverage.js';
import { formatLsn, parseLsn, segmentName, segnoOfLsn } from './wal/names.js';
import { openArchive, walRepositoryName } from './wal/open.js';
import { describeTarget, parseRecoveryTarget, recoverySettings, type RecoveryTarget } from './wal/target.js';

const CLI = fileURLToPath(new URL('../client/cli.js', import.meta.url));
const MARKER = '.pgwarden-restore'; // in data directories pgwarden created: the only ones it will ever delete

export interface PlanPitrInput {
  database: string;
  target: string;
  backup?: string;
  datadir?: string;
  port?: number;
  runId: string;
}

export interface PitrPlan {
  baseBackupId: string;
  repository: string;
  target: RecoveryTarget;
  targetDescription: string;
  /** recovery_target_* settings actually used (a time after the last commit becomes "latest": same result). */
  settings: Record<string, string>;
  note?: string;
  datadir: string;
  port: number;
  runAs?: string;
  serverMajor: number;
  window: { from: string; to: string; fromLsn: string; toLsn: string };
  segments: number;
  /** WAL the restore fetches while the base backup streams, so recovery finds it on disk (and what is not archived). */
  stage: WalStage;
  rtoMs?: number;
  /** user and database to connect with afterwards (the source's: a restored cluster has the source's roles). */
  connectAs: { user: string; database: string };
}

export interface WalStage {
  files: string[]; // segments from the backup's start on (the first STAGE_LIMIT) and the history files on the way
  missing: string[]; // the segment after the archive's end and the next timeline's history: answered "not archived"
}

/** Segments fetched ahead of recovery's start; the prefetcher of wal-fetch takes over after them. */
const STAGE_LIMIT = 64;

export interface RecoverInput {
  database: string;
  datadir: string;
  port: number;
  runAs?: string;
  serverMajor: number;
  settings: Record<string, string>;
  target: RecoveryTarget;
  segments: number;
  archive: boolean;
}

export interface RecoverOutput {
  timeline: number;
  lastTransactionAt?: string;
  stoppedAt?: string; // PostgreSQL's own words: "recovery stopping before commit of transaction 741, time …"
  reachedLsn: string;
  segmentsRestored: number;
  recoveryMs: number;
  databases: string[];
}

export function pitrActivities(config: Config) {
  return {
    planPitr: (input: PlanPitrInput) => planPitr(config, input),
    restoreBaseBackup: (input: RestoreBaseInput) => restoreBaseBackup(config, input),
    recoverCluster: (input: RecoverInput) => recoverCluster(config, input),
    /** Compensation: stops and removes a data directory pgwarden created (never any other). */
    async discardRestoredCluster(input: { datadir: string; runAs?: string; serverMajor: number }): Promise<{ removed: boolean }> {
      if (!existsSync(join(input.datadir, MARKER))) return { removed: false };
      const user = await runAsUser(input.runAs);
      const cluster = new LocalCluster({ dataDir: input.datadir, binDir: serverBinDir(input.serverMajor, config.postgres.binDir), port: 0, ...(user ? { user } : {}) });
      await cluster.stop('immediate');
      rmSync(input.datadir, { recursive: true, force: true });
      return { removed: true };
    },
  };
}

async function runAsUser(name: string | undefined): Promise<OsUser | undefined> {
  return name ? clusterUser(name) : undefined;
}

async function planPitr(config: Config, input: PlanPitrInput): Promise<PitrPlan> {
  const { repo, keys } = openArchive(config, input.database);
  try {
    return await planWithKeys(config, input, repo, keys);
  } finally {
    await keys.close();
  }
}

async function planWithKeys(config: Config, input: PlanPitrInput, repo: import('./storage/repository.js').Repository, keys: WalKeys): Promise<PitrPlan> {
  const db = databaseView(config, input.database);
  const target = parseRecoveryTarget(input.target);
  const repository = walRepositoryName(config, input.database);
  const backups = await listBackups(repo, input.database, 'base');
  if (backups.length === 0) {
    throw new PgwardenError('NotFound', `No base backup of "${input.database}" in repository "${repository}": take one with \`pgwarden basebackup --db ${input.database}\`.`);
  }
  const listing = await listArchive(repo, input.database, keys);

  // The archive's reach from each base backup, oldest first: the restore window.
  const reach = async (backup: BackupManifest) => {
    const base = backup.base!;
    const startSegno = segnoOfLsn(parseLsn(base.startLsn), listing.segmentSize);
    const stopSegno = segnoOfLsn(parseLsn(base.stopLsn) - 1n, listing.segmentSize);
    const path = recoveryPath(listing, base.timeline, startSegno);
    const cov = coverage(listing, path);
    const usable = cov.missing.length === 0 && cov.last !== undefined && (cov.last.timeline !== base.timeline || cov.last.segno >= stopSegno);
    return { backup, path, cov, usable };
  };
  let chosen: BackupManifest | undefined;
  if (input.backup) chosen = await findBackup(repo, input.database, 'base', input.backup);
  else if (target.kind === 'time') chosen = backups.filter((b) => Date.parse(b.base!.stopTime) <= Date.parse(target.time)).at(-1);
  else if (target.kind === 'lsn') chosen = backups.filter((b) => parseLsn(b.base!.stopLsn) <= parseLsn(target.lsn)).at(-1);
  else chosen = backups.at(-1);
  const oldest = backups[0]!.base!;
  if (!chosen) {
    throw new PgwardenError(
      'NotFound',
      `${describeTarget(target)} is before the oldest base backup of "${input.database}" became consistent (${oldest.stopTime}, LSN ${oldest.stopLsn}): ` +
        `nothing can be restored to it. ${await windowText(repo, input.database, await reach(backups[0]!))}`,
    );
  }
  await keyForBackup(config, chosen); // a missing or wrong key fails here, before any directory is made
  const plan = await reach(chosen);
  if (!plan.usable || !plan.cov.last) {
    throw new PgwardenError(
      'Integrity',
      `The archive lacks WAL that base backup ${chosen.id} needs: ${plan.cov.missing.slice(0, 3).join(', ') || chosen.base!.startWal} missing. ` +
        `Check archive_command and \`pgwarden wal status --db ${input.database}\`; an older base backup may still cover your target (--backup).`,
    );
  }
  const last = plan.cov.last;
  const endLsn = (last.segno + 1n) * BigInt(listing.segmentSize);
  const endTime = (await closedAt(repo, input.database, last.name)) ?? new Date(0);
  const window = { from: chosen.base!.stopTime, to: endTime.toISOString(), fromLsn: chosen.base!.stopLsn, toLsn: formatLsn(endLsn) };
  const outside = (detail: string) =>
    new PgwardenError(
      'NotFound',
      `${describeTarget(target)} is outside what the archive covers: ${detail}. Restore window from base backup ${chosen.id}: ${window.from} to ${window.to} ` +
        `(LSN ${window.fromLsn} to ${window.toLsn}). WAL newer than that may still be in the server's pg_wal, not archived yet.`,
    );
  let settings = recoverySettings(target);
  let note: string | undefined;
  if (target.kind === 'time') {
    if (Date.parse(target.time) > endTime.getTime()) throw outside(`WAL is archived up to ${window.to} (segment ${last.name})`);
    // PostgreSQL refuses to end recovery before a time target is passed. If nothing committed after the target
    // in the archive, the latest state is the state at the target: recover to the end instead.
    const waldump = join(serverBinDir(Math.floor(chosen.server.versionNum / 10_000), config.postgres.binDir), 'pg_waldump');
    const lastCommit = await lastCommitTime(repo, input.database, keys, plan, listing.segmentSize, waldump);
    if (lastCommit !== undefined && lastCommit <= Date.parse(target.time)) {
      settings = {};
      note = `nothing committed between ${new Date(lastCommit).toISOString()} (the last commit in the archive) and the target: recovering to the end of the archive, which is the same state`;
    }
  } else if (target.kind === 'lsn') {
    if (parseLsn(target.lsn) > endLsn) throw outside(`WAL is archived up to LSN ${window.toLsn}`);
    if (parseLsn(target.lsn) < parseLsn(chosen.base!.stopLsn)) throw outside(`base backup ${chosen.id} is consistent only from LSN ${chosen.base!.stopLsn}`);
  }

  const serverMajor = Math.floor(chosen.server.versionNum / 10_000);
  serverBinDir(serverMajor, config.postgres.binDir); // fails now, naming the package, when the server is missing
  const runAs = process.getuid?.() === 0 ? db.settings.pitr?.runAs ?? 'postgres' : undefined;
  const user = await runAsUser(runAs);
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  const root = db.settings.pitr?.restoreDirectory ?? join(user?.home ?? process.env.HOME ?? tmpdir(), 'pgwarden-pitr');
  const datadir = resolve(input.datadir ?? join(root, `${input.database}-${stamp}`));
  if (existsSync(datadir) && readdirSync(datadir).length > 0) {
    throw new PgwardenError('Refused', `${datadir} exists and is not empty: a restore goes into a new data directory. Choose another --datadir.`);
  }
  const port = input.port ?? (await freePort());
  if (!(await portIsFree(port))) throw new PgwardenError('Refused', `Port ${port} is in use: choose another --port.`);
  await neverTheSource(config, input.database, datadir, port);

  const stageFiles: string[] = [];
  const timelines = new Set(plan.path.map((hop) => hop.timeline));
  for (const timeline of timelines) {
    const name = `${timeline.toString(16).toUpperCase().padStart(8, '0')}.history`;
    if (listing.histories.has(timeline)) stageFiles.push(name);
  }
  walk: for (const hop of plan.path) {
    for (let segno = hop.fromSegno; hop.toSegno === undefined ? segno <= (hop.timeline === last.timeline ? last.segno : -1n) : segno <= hop.toSegno; segno += 1n) {
      if (stageFiles.length >= STAGE_LIMIT) break walk;
      stageFiles.push(segmentName(hop.timeline, segno, listing.segmentSize));
    }
  }
  const finalTimeline = plan.path.at(-1)!.timeline;
  const stage: WalStage = {
    files: stageFiles,
    missing: [segmentName(last.timeline, last.segno + 1n, listing.segmentSize), `${(finalTimeline + 1).toString(16).toUpperCase().padStart(8, '0')}.history`],
  };

  const source = parseUrl(sourceEndpoint(config, input.database).url);
  return {
    baseBackupId: chosen.id,
    repository,
    target,
    targetDescription: describeTarget(target),
    settings,
    ...(note ? { note } : {}),
    datadir,
    port,
    ...(runAs ? { runAs } : {}),
    serverMajor,
    window,
    segments: plan.cov.count,
    stage,
    ...(db.rtoMs !== undefined ? { rtoMs: db.rtoMs } : {}),
    connectAs: { user: source.user || 'postgres', database: source.database || 'postgres' },
  };
}

async function windowText(repo: import('./storage/repository.js').Repository, database: string, r: { backup: BackupManifest; cov: { last?: { name: string } } }): Promise<string> {
  if (!r.cov.last) return 'The archive does not cover it either.';
  const end = await closedAt(repo, database, r.cov.last.name);
  return `The restore window is ${r.backup.base!.stopTime} to ${end?.toISOString() ?? 'unknown'}.`;
}

/** The time of the last commit or abort in the newest archived segments (pg_waldump), if any. */
async function lastCommitTime(
  repo: import('./storage/repository.js').Repository,
  database: string,
  keys: WalKeys,
  plan: { cov: { last?: { timeline: number; segno: bigint; name: string } } },
  segmentSize: number,
  waldump: string,
): Promise<number | undefined> {
  const last = plan.cov.last;
  if (!last) return undefined;
  const dir = await mkdtemp(join(tmpdir(), 'pgwarden-waldump-'));
  try {
    const { segmentName } = await import('./wal/names.js');
    for (let back = 0n; back < 3n && last.segno - back >= 0n; back += 1n) {
      const name = segmentName(last.timeline, last.segno - back, segmentSize);
      const bytes = await fetchWalBytes(repo, database, name, keys);
      if (!bytes) return undefined;
      writeFileSync(join(dir, name), bytes);
      const run = await execa(waldump, [join(dir, name)], { reject: false, env: { TZ: 'UTC' } });
      const times = [...run.stdout.matchAll(/desc: (?:COMMIT|ABORT) (\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(?:\.\d+)?) UTC/g)].map((m) => Date.parse(`${m[1]!.replace(' ', 'T')}Z`));
      if (times.length > 0) return Math.max(...times);
    }
    return undefined;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Refuses a data directory or port that belongs to the cluster the backup came from. */
async function neverTheSource(config: Config, database: string, datadir: string, port: number): Promise<void> {
  const endpoint = sourceEndpoint(config, database);
  let client: pg.Client | undefined;
  try {
    client = await openClient(endpoint, { connectionTimeoutMillis: 5_000 }); // the URL's TLS meaning (tls.ts)
    const { rows } = await client.query<{ dir: string; port: string }>("SELECT current_setting('data_directory', true) AS dir, current_setting('port') AS port");
    const local = /^(localhost|127\.|::1|\/)/.test(parseUrl(endpoint.url).host ?? 'localhost');
    if (rows[0]?.dir && resolve(rows[0].dir) === datadir) throw new PgwardenError('Refused', `${datadir} is the data directory of the running cluster of "${database}": never restoring over it.`);
    if (local && Number(rows[0]?.port) === port) throw new PgwardenError('Refused', `Port ${port} is the running cluster's: choose another --port.`);
  } catch (error) {
    if (error instanceof PgwardenError) throw error; // the source being down is no reason not to restore
  } finally {
    await client?.end().catch(() => undefined);
  }
}

export interface RestoreBaseInput {
  database: string;
  baseBackupId: string;
  datadir: string;
  runAs?: string;
  stage?: WalStage;
}

/** Where a restored cluster's restore_command finds WAL fetched ahead (on pg_wal's file system: a rename away). */
export function stageDirectory(datadir: string): string {
  return join(datadir, 'pgwarden', 'spool');
}

async function restoreBaseBackup(config: Config, input: RestoreBaseInput): Promise<{ restoreMs: number; bytes: number; verified: boolean; staged: number }> {
  const started = Date.now();
  const { repo, keys } = openArchive(config, input.database);
  const folder = backupFolder(input.database, 'base', input.baseBackupId);
  const manifest = await findBackup(repo, input.database, 'base', input.baseBackupId);
  const { secret } = await objectSecretOf(config, repo, folder, manifest);
  const object = manifest.objects.find((o) => o.name === BASE_OBJECT)!;
  const user = await runAsUser(input.runAs);
  const binDir = serverBinDir(Math.floor(manifest.server.versionNum / 10_000), config.postgres.binDir);
  const cluster = new LocalCluster({ dataDir: input.datadir, binDir, port: 0, ...(user ? { user } : {}) });

  if (existsSync(input.datadir) && readdirSync(input.datadir).some((f) => f !== MARKER)) {
    if (!existsSync(join(input.datadir, MARKER))) throw new PgwardenError('Refused', `${input.datadir} is not empty: not restoring into it.`);
    rmSync(input.datadir, { recursive: true, force: true }); // our own, from an earlier attempt of this restore
  }
  // Directories created above the data directory belong to the cluster's user too, or it cannot reach its data.
  const created: string[] = [];
  for (let dir = dirname(input.datadir); !existsSync(dir); dir = dirname(dir)) created.unshift(dir);
  for (const dir of created) {
    mkdirSync(dir, { mode: 0o755 });
    if (user) chownSync(dir, user.uid, user.gid);
  }
  mkdirSync(input.datadir, { recursive: true, mode: 0o700 });
  writeFileSync(join(input.datadir, MARKER), `created by pgwarden for base backup ${input.baseBackupId} at ${new Date().toISOString()}\n`);
  cluster.own(input.datadir);

  const reporter = currentReporter();
  let meter: { bytes: number } | undefined;
  const stop = reportEvery(reporter, (): Progress => ({ phase: 'restoring base backup', bytesDone: meter?.bytes ?? 0, bytesTotal: object.storedBytes }));
  try {
    // tar runs as the cluster's user, so that the files are its own.
    const tarArgs = ['-x', '-f', '-', '-C', input.datadir];
    const tar: Step = user ? { command: 'runuser', args: ['-u', user.name, '--', 'tar', ...tarArgs], label: 'tar' } : { command: 'tar', args: tarArgs, label: 'tar' };
    // While the base backup streams in, the WAL that recovery will ask for first comes down beside it.
    const staging = stageWal(repo, input.database, keys, input.stage, stageDirectory(input.datadir));
    staging.catch(() => undefined);
    await unsealInto(repo, { key: `${folder}${object.name}`, sha256: object.sha256, storedBytes: object.storedBytes }, secret, [tar], {
      ...(reporter.signal ? { signal: reporter.signal } : {}),
      onMeter: (m) => (meter = m),
    });
    const staged = await staging;
    // The WAL data keys from the backup's day on, opened once here: restore_command (wal-fetch) then decrypts
    // without a passphrase or private key. They go when recovery ends (recoverCluster).
    await keys.placeKeys(new Date(Date.parse(manifest.base!.startTime) - 86_400_000).toISOString().slice(0, 10).replace(/-/g, ''), stageDirectory(input.datadir));
    cluster.own(join(input.datadir, 'pgwarden'));

    // pg_basebackup put a manifest with a checksum of every file into the tar: check the files against it.
    let verified = false;
    if (existsSync(join(input.datadir, 'backup_manifest'))) {
      const check = await cluster.run('pg_verifybackup', ['--no-parse-wal', '--quiet', `--ignore=${MARKER}`, '--ignore=pgwarden', input.datadir], { reject: false });
      if (check.exitCode !== 0) {
        throw new PgwardenError('Integrity', `pg_verifybackup found the restored files of base backup ${input.baseBackupId} damaged:\n  ${(check.stderr || check.stdout).trim()}`);
      }
      verified = true;
    }
    return { restoreMs: Date.now() - started, bytes: object.rawBytes, verified, staged };
  } finally {
    stop();
    await keys.close();
  }
}

/** Fetches (and verifies) the staged WAL files into `<dir>/in`, and marks the ones known not to be archived. */
async function stageWal(repo: import('./storage/repository.js').Repository, database: string, keys: WalKeys, stage: WalStage | undefined, dir: string): Promise<number> {
  if (!stage) return 0;
  const incoming = join(dir, 'in');
  mkdirSync(incoming, { recursive: true, mode: 0o700 });
  let staged = 0;
  await inParallel(stage.files, 3, async (name) => {
    const bytes = await fetchWalBytes(repo, database, name, keys);
    if (!bytes) return; // gone since the plan: wal-fetch will say so
    writeFileSync(join(incoming, `${name}.tmp`), bytes);
    renameSync(join(incoming, `${name}.tmp`), join(incoming, name));
    staged += 1;
  });
  for (const name of stage.missing) writeFileSync(join(incoming, `${name}${MISSING}`), new Date().toISOString());
  return staged;
}

/** The environment the restored postmaster (and so restore_command) needs: the secrets pgwarden.yaml names. */
function secretsEnvironment(config: Config, database: string): Record<string, string> {
  const env: Record<string, string> = {};
  // WAL data keys are placed in the spool (restoreBaseBackup): only a passphrase may be needed, for WAL from before.
  const names: string[] = passphraseEnvVars(config);
  const repo = config.repositories[walRepositoryName(config, database)];
  if (repo?.type === 's3') names.push(...[repo.accessKeyIdEnv, repo.secretAccessKeyEnv].filter((n): n is string => Boolean(n)));
  for (const [key, value] of Object.entries(process.env)) {
    if (value !== undefined && (names.includes(key) || key.startsWith('AWS_'))) env[key] = value;
  }
  return env;
}

/** A pgwarden.yaml for the restored cluster's restore_command: the archive only, secrets still by reference. */
function restoreConfig(config: Config, database: string): string {
  const repository = walRepositoryName(config, database);
  const db = databaseView(config, database);
  return stringify({
    encryption: config.encryption,
    backup: { compressionLevel: config.backup.compressionLevel },
    repositories: { [repository]: config.repositories[repository] },
    databases: { [database]: { connection: db.settings.connection, repositories: [repository], pitr: { repository } } },
  });
}

async function recoverCluster(config: Config, input: RecoverInput): Promise<RecoverOutput> {
  const started = Date.now();
  const user = await runAsUser(input.runAs);
  const binDir = serverBinDir(input.serverMajor, config.postgres.binDir);
  const aux = join(input.datadir, 'pgwarden');
  const cluster = new LocalCluster({ dataDir: input.datadir, binDir, port: input.port, logFile: join(aux, 'recovery.log'), ...(user ? { user } : {}) });
  mkdirSync(aux, { recursive: true });
  const configFile = join(aux, 'restore.yaml');
  writeFileSync(configFile, restoreConfig(config, input.database), { mode: 0o600 });
  rmSync(join(input.datadir, 'postmaster.pid'), { force: true });
  rmSync(join(input.datadir, 'standby.signal'), { force: true });
  rmSync(cluster.logFile, { force: true });

  const quote = (value: string) => `'${value.replace(/'/g, "''")}'`;
  // A spool of its own, inside the data directory: prefetched segments land on pg_wal's file system (a rename
  // away from use) and go when the restored cluster goes.
  // WAL fetched ahead is a rename away, answered by the shell; anything else starts wal-fetch (which prefetches).
  const spool = stageDirectory(input.datadir);
  // 32 ahead (512 MiB of spool at most): each prefetcher is a process start, and recovery outruns a short one.
  const walFetch = `${process.execPath} ${CLI} --config ${configFile} wal-fetch --db ${input.database} --spool ${spool} --prefetch 32 %f "%p"`;
  const restoreCommand =
    `f="${spool}/in/%f"; if [ -f "$f" ]; then mv -f "$f" "%p"; elif [ -f "$f${MISSING}" ]; then exit 1; else exec ${walFetch}; fi`;
  if (!existsSync(join(input.datadir, 'postgresql.conf'))) {
    // Debian-style clusters keep their configuration outside the data directory: give the copy a minimal one.
    writeFileSync(join(input.datadir, 'postgresql.conf'), '# written by pgwarden for a restored cluster\n');
    writeFileSync(join(input.datadir, 'pg_hba.conf'), 'local all all peer\nhost all all 127.0.0.1/32 scram-sha-256\nhost all all ::1/128 scram-sha-256\n');
  }
  const lines = [
    '',
    `# pgwarden point-in-time restore (${new Date().toISOString()}): ${describeTarget(input.target)}`,
    `port = ${input.port}`,
    `listen_addresses = 'localhost'`,
    `log_timezone = 'UTC'`,
    `unix_socket_directories = '/tmp'`,
    `restore_command = ${quote(restoreCommand)}`,
    `recovery_target_timeline = 'latest'`,
    `recovery_target_action = 'promote'`,
    ...Object.entries(input.settings).map(([key, value]) => `${key} = ${quote(value)}`),
    input.archive
      ? `archive_command = ${quote(`${process.execPath} ${CLI} --config ${configFile} wal-push --db ${input.database} --async %p`)}`
      : `archive_mode = off  # a restored copy does not write into the archive unless asked (--archive)`,
  ];
  appendFileSync(join(input.datadir, 'postgresql.auto.conf'), `${lines.join('\n')}\n`);
  writeFileSync(join(input.datadir, 'recovery.signal'), '');
  cluster.own(input.datadir);

  const reporter = currentReporter();
  let restored = 0;
  const stop = reportEvery(reporter, (): Progress => ({
    phase: 'replaying WAL',
    bytesDone: restored * 16 * 1024 * 1024,
    itemsDone: restored,
    itemsTotal: input.segments,
  }));
  const log = () => (existsSync(cluster.logFile) ? readFileSync(cluster.logFile, 'utf8') : '');
  // WAL ahead of recovery, fetched by this activity into the spool restore_command reads first.
  const archive = openArchive(config, input.database, { spool });
  const segmentSize = (await readArchiveIdentity(archive.repo, input.database))?.segmentSize || 16 * 1024 * 1024;
  const feeder = new WalFeeder(archive.repo, input.database, archive.keys, join(spool, 'in'), segmentSize, (path) => cluster.own(path));
  try {
    const start = await cluster.run('pg_ctl', ['-D', input.datadir, '-l', cluster.logFile, '-W', '-o', `-p ${input.port}`, 'start'], {
      reject: false,
      env: secretsEnvironment(config, input.database),
    });
    if (start.exitCode !== 0) throw new PgwardenError('Failed', `pg_ctl could not start the restored cluster: ${start.stderr || start.stdout}`);

    const sourceUrl = new URL(sourceEndpoint(config, input.database).url);
    sourceUrl.host = `127.0.0.1:${input.port}`;
    const url = sourceUrl.toString();
    for (;;) {
      if (reporter.signal?.aborted) throw new PgwardenError('Failed', 'Cancelled during recovery.', { retryable: false });
      const text = log();
      const restoredNames = [...text.matchAll(/restored log file "([0-9A-F]{24})" from archive/g)];
      restored = restoredNames.length;
      feeder.advance(restoredNames.at(-1)?.[1]);
      if (/FATAL|PANIC/.test(text) && !existsSync(join(input.datadir, 'postmaster.pid'))) throw recoveryFailure(text, input);
      const state = await probe(url);
      if (state === 'promoted') break;
      if (state === 'down' && !existsSync(join(input.datadir, 'postmaster.pid')) && Date.now() - started > 5_000) throw recoveryFailure(text, input);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }

    const text = log();
    const stoppedAt = /LOG: {2}(recovery stopping [^\n]+)/.exec(text)?.[1];
    const lastTx = /last completed transaction was at log time ([^\n]+)/.exec(text)?.[1];
    const lastTransactionAt = lastTx ? new Date(Date.parse(lastTx.replace(' ', 'T').replace(/\+00$/, 'Z').replace(/([+-]\d\d)$/, '$1:00'))).toISOString() : undefined;
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    let timeline: number;
    let reachedLsn: string;
    let databases: string[];
    try {
      // The current WAL file's name starts with the timeline the promoted cluster writes on.
      const now = (await client.query<{ l: string; f: string }>('SELECT pg_current_wal_lsn()::text AS l, pg_walfile_name(pg_current_wal_lsn()) AS f')).rows[0]!;
      timeline = parseInt(now.f.slice(0, 8), 16);
      reachedLsn = now.l;
      databases = (await client.query<{ d: string }>('SELECT datname AS d FROM pg_database WHERE datallowconn ORDER BY 1')).rows.map((r) => r.d);
    } finally {
      await client.end();
    }
    // Every database opens and answers: the cluster is usable, not just started.
    for (const database of databases) {
      const check = new pg.Client({ connectionString: Object.assign(new URL(url), { pathname: `/${encodeURIComponent(database)}` }).toString() });
      await check.connect();
      await check.query('SELECT count(*) FROM pg_class');
      await check.end();
    }
    await feeder.stop();
    rmSync(join(spool, 'keys'), { recursive: true, force: true }); // the WAL data keys placed for recovery
    if (input.target.kind === 'time' && lastTransactionAt && Date.parse(lastTransactionAt) > Date.parse(input.target.time)) {
      throw new PgwardenError('Integrity', `Recovery went past the target: the last replayed transaction is from ${lastTransactionAt}, after ${input.target.time}.`);
    }
    return {
      timeline,
      ...(lastTransactionAt ? { lastTransactionAt } : {}),
      ...(stoppedAt ? { stoppedAt } : {}),
      reachedLsn,
      segmentsRestored: restored,
      recoveryMs: Date.now() - started,
      databases,
    };
  } finally {
    stop();
    await feeder.stop();
    await archive.keys.close();
  }
}

async function probe(url: string): Promise<'down' | 'recovering' | 'promoted'> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2_000 });
  try {
    await client.connect();
    const { rows } = await client.query<{ r: boolean }>('SELECT pg_is_in_recovery() AS r');
    return rows[0]!.r ? 'recovering' : 'promoted';
  } catch {
    return 'down';
  } finally {
    await client.end().catch(() => undefined);
  }
}

function recoveryFailure(log: string, input: RecoverInput): PgwardenError {
  const tail = log.trim().split('\n').slice(-8).join('\n  ');
  if (/recovery ended before configured recovery target was reached/.test(log)) {
    return new PgwardenError('NotFound', `Recovery reached the end of the archive without reaching ${describeTarget(input.target)}:\n  ${tail}`);
  }
  if (/wal-fetch .*corrupt/.test(log)) return new PgwardenError('Integrity', `Recovery stopped on a corrupt archived WAL file:\n  ${tail}`);
  return new PgwardenError('Failed', `The restored cluster stopped during recovery:\n  ${tail}`, { retryable: false });
}
