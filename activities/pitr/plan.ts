// Step 1 of a point-in-time restore: the plan. Gathers what the archive and the base backups hold, asks the pure
// planner (wal/plan.ts) which backup and WAL reach the target, and refuses what cannot be done before anything is
// written: a target outside the archive, a data directory that is not empty, a port in use, the source itself.
import { existsSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import pg from 'pg';
import { parse as parseUrl } from 'pg-connection-string';
import { PgwardenError } from '../../config/errors.js';
import { databaseView } from '../../config/load.js';
import type { Config } from '../../config/schema.js';
import { findBackup, listBackups } from '../catalog/list.js';
import { serverBinDir } from '../postgres/binaries.js';
import { freePort, portIsFree } from '../postgres/cluster.js';
import { sourceEndpoint } from '../postgres/connection.js';
import type { Repository } from '../storage/repository.js';
import { closedAt, listArchive } from '../wal/coverage.js';
import { formatLsn, parseLsn } from '../wal/names.js';
import { openArchive, walRepositoryName } from '../wal/open.js';
import { archivedEndLsn, baseBackupPoint, chooseBaseBackup, reachFrom, walStage, type BaseBackupPoint, type Reach, type WalStage } from '../wal/plan.js';
import { describeTarget, parseRecoveryTarget, recoverySettings, type RecoveryTarget } from '../wal/target.js';
import { runAsUser } from './datadir.js';
import { lastCommitTime } from './waldump.js';

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

export async function planPitr(config: Config, input: PlanPitrInput): Promise<PitrPlan> {
  const db = databaseView(config, input.database);
  const target = parseRecoveryTarget(input.target);
  const repository = walRepositoryName(config, input.database);
  const { repo, settings: seal } = openArchive(config, input.database);
  const manifests = await listBackups(repo, input.database, 'base');
  if (manifests.length === 0) {
    throw new PgwardenError('NotFound', `No base backup of "${input.database}" in repository "${repository}": take one with \`pgwarden basebackup --db ${input.database}\`.`);
  }
  const backups = manifests.map(baseBackupPoint);
  const listing = await listArchive(repo, input.database, seal.passphrase);

  const chosenManifest = input.backup ? await findBackup(repo, input.database, 'base', input.backup) : undefined;
  const chosen = chosenManifest ? baseBackupPoint(chosenManifest) : chooseBaseBackup(backups, target);
  const oldest = backups[0]!;
  if (!chosen) {
    throw new PgwardenError(
      'NotFound',
      `${describeTarget(target)} is before the oldest base backup of "${input.database}" became consistent (${oldest.stopTime}, LSN ${oldest.stopLsn}): ` +
        `nothing can be restored to it. ${await windowText(repo, input.database, oldest, reachFrom(listing, oldest))}`,
    );
  }
  const manifest = chosenManifest ?? manifests.find((m) => m.id === chosen.id)!;
  const plan = reachFrom(listing, chosen);
  if (!plan.usable || !plan.coverage.last) {
    throw new PgwardenError(
      'Integrity',
      `The archive lacks WAL that base backup ${chosen.id} needs: ${plan.coverage.missing.slice(0, 3).join(', ') || manifest.base!.startWal} missing. ` +
        `Check archive_command and \`pgwarden wal status --db ${input.database}\`; an older base backup may still cover your target (--backup).`,
    );
  }
  const last = plan.coverage.last;
  const endLsn = archivedEndLsn(listing, last);
  const endTime = (await closedAt(repo, input.database, last.name)) ?? new Date(0);
  const window = { from: chosen.stopTime, to: endTime.toISOString(), fromLsn: chosen.stopLsn, toLsn: formatLsn(endLsn) };
  const outside = (detail: string) =>
    new PgwardenError(
      'NotFound',
      `${describeTarget(target)} is outside what the archive covers: ${detail}. Restore window from base backup ${chosen.id}: ${window.from} to ${window.to} ` +
        `(LSN ${window.fromLsn} to ${window.toLsn}). WAL newer than that may still be in the server's pg_wal, not archived yet.`,
    );
  const serverMajor = Math.floor(manifest.server.versionNum / 10_000);
  let settings = recoverySettings(target);
  let note: string | undefined;
  if (target.kind === 'time') {
    if (Date.parse(target.time) > endTime.getTime()) throw outside(`WAL is archived up to ${window.to} (segment ${last.name})`);
    // PostgreSQL refuses to end recovery before a time target is passed. If nothing committed after the target
    // in the archive, the latest state is the state at the target: recover to the end instead.
    const waldump = join(serverBinDir(serverMajor, config.postgres.binDir), 'pg_waldump');
    const lastCommit = await lastCommitTime(repo, input.database, seal.passphrase, last, listing.segmentSize, waldump);
    if (lastCommit !== undefined && lastCommit <= Date.parse(target.time)) {
      settings = {};
      note = `nothing committed between ${new Date(lastCommit).toISOString()} (the last commit in the archive) and the target: recovering to the end of the archive, which is the same state`;
    }
  } else if (target.kind === 'lsn') {
    if (parseLsn(target.lsn) > endLsn) throw outside(`WAL is archived up to LSN ${window.toLsn}`);
    if (parseLsn(target.lsn) < parseLsn(chosen.stopLsn)) throw outside(`base backup ${chosen.id} is consistent only from LSN ${chosen.stopLsn}`);
  }

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
    segments: plan.coverage.count,
    stage: walStage(listing, plan),
    ...(db.rtoMs !== undefined ? { rtoMs: db.rtoMs } : {}),
    connectAs: { user: source.user || 'postgres', database: source.database || 'postgres' },
  };
}

async function windowText(repo: Repository, database: string, backup: BaseBackupPoint, reach: Reach): Promise<string> {
  if (!reach.coverage.last) return 'The archive does not cover it either.';
  const end = await closedAt(repo, database, reach.coverage.last.name);
  return `The restore window is ${backup.stopTime} to ${end?.toISOString() ?? 'unknown'}.`;
}

/** Refuses a data directory or port that belongs to the cluster the backup came from. */
async function neverTheSource(config: Config, database: string, datadir: string, port: number): Promise<void> {
  const endpoint = sourceEndpoint(config, database);
  const client = new pg.Client({ connectionString: endpoint.url, connectionTimeoutMillis: 5_000 });
  try {
    await client.connect();
    const { rows } = await client.query<{ dir: string; port: string }>("SELECT current_setting('data_directory', true) AS dir, current_setting('port') AS port");
    const local = /^(localhost|127\.|::1|\/)/.test(parseUrl(endpoint.url).host ?? 'localhost');
    if (rows[0]?.dir && resolve(rows[0].dir) === datadir) throw new PgwardenError('Refused', `${datadir} is the data directory of the running cluster of "${database}": never restoring over it.`);
    if (local && Number(rows[0]?.port) === port) throw new PgwardenError('Refused', `Port ${port} is the running cluster's: choose another --port.`);
  } catch (error) {
    if (error instanceof PgwardenError) throw error; // the source being down is no reason not to restore
  } finally {
    await client.end().catch(() => undefined);
  }
}
