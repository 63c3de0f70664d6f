// Step 1 of a point-in-time restore: the plan. Gathers what the archive and the base backups hold and where the
// source writes now, asks the pure planner (wal/plan.ts) which timeline, which base backup and which WAL reach the
// target, and refuses what cannot be done before anything is written: a target outside the archive or behind a
// hole, input that is not safe to put into a command, a data directory that is not empty, a port in use, the source.
import { existsSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parse as parseUrl } from 'pg-connection-string';
import { PgwardenError } from '../../domain/errors.js';
import { resolveDatabase } from '../database-context.js';
import type { Config, DatabaseSettings } from '../../config/schema.js';
import { findBackup, listBackups } from '../catalog/list.js';
import { keyForBackup } from '../keys/backup-keys.js';
import type { WalKeys } from '../keys/wal-keys.js';
import { serverBinDir } from '../postgres/binaries.js';
import { freePort, portIsFree } from '../postgres/cluster.js';
import { currentReporter } from '../progress.js';
import type { Repository } from '../storage/repository.js';
import { closedAt, listArchive, missingUpTo } from '../wal/coverage.js';
import { formatLsn, parseLsn } from '../wal/names.js';
import { openArchive } from '../wal/open.js';
import {
  backupOnTimeline,
  backupWalMissing,
  baseBackupPoint,
  chooseBaseBackup,
  describeWindow,
  historyFileName,
  productionTimeline,
  reachFrom,
  recoveryTimeline,
  runEndLsn,
  stopSegno,
  targetSegno,
  targetWalMissing,
  walStage,
  type BaseBackupPoint,
  type WalStage,
} from '../wal/plan.js';
import { sourceNow } from '../wal/source.js';
import { describeTarget, epochMicros, isoFromMicros, parseRecoveryTarget, recoverySettings, type RecoveryTarget } from '../wal/target.js';
import { checkName, checkPath } from './commands.js';
import { refuseSymlink, runAsUser } from './datadir.js';
import { lastCommitTime, locateTarget } from './waldump.js';

export interface PlanPitrInput {
  database: string;
  target: string;
  backup?: string;
  /** Timeline to recover along (default: the source's, when it descends from the base backup). */
  timeline?: number;
  datadir?: string;
  port?: number;
  /** Let the copy archive: under its own name, or under `archiveAs` (the source's own name only when asked for). */
  archive?: boolean;
  archiveAs?: string;
  runId: string;
}

export interface PitrPlan {
  baseBackupId: string;
  repository: string;
  target: RecoveryTarget;
  targetDescription: string;
  /** recovery_target_* settings actually used (a time after the last commit becomes "latest": same result). */
  settings: Record<string, string>;
  /** The timeline recovery follows, and why. */
  timeline: number;
  timelineReason: string;
  notes: string[];
  datadir: string;
  port: number;
  runAs?: string;
  serverMajor: number;
  window: { from: string; to: string; fromLsn: string; toLsn: string };
  segments: number;
  /** WAL the restore fetches while the base backup streams, so recovery finds it on disk (and what is not archived). */
  stage: WalStage;
  /** The archive the copy writes into, when it archives. */
  archiveAs?: string;
  rtoMs?: number;
  /** user and database to connect with afterwards (the source's: a restored cluster has the source's roles). */
  connectAs: { user: string; database: string };
}

export async function planPitr(config: Config, input: PlanPitrInput): Promise<PitrPlan> {
  const { repo, keys } = openArchive(config, input.database);
  try {
    return await planWithKeys(config, input, repo, keys);
  } finally {
    await keys.close();
  }
}

// The plan in the order its checks must fail (input, backups, timeline, target, coverage, key, placement): one
// reading of the archive shared by all of them, so it stays one function.
async function planWithKeys(config: Config, input: PlanPitrInput, repo: Repository, keys: WalKeys): Promise<PitrPlan> {
  const db = resolveDatabase(config, input.database);
  const target = parseRecoveryTarget(input.target);
  checkInput(input);
  const repository = db.walRepository;
  const manifests = await listBackups(repo, input.database, 'base');
  if (manifests.length === 0) {
    throw new PgwardenError('NotFound', `No base backup of "${input.database}" in repository "${repository}": take one with \`pgwarden basebackup --db ${input.database}\`.`);
  }
  const backups = manifests.map(baseBackupPoint);
  const listing = await listArchive(repo, input.database, keys);
  const { source } = await sourceNow(config, input.database);

  // The timeline: the one asked for, else the source's (from a given backup: unless it branched off before it).
  const given = input.backup ? await findBackup(repo, input.database, 'base', input.backup) : undefined;
  const production = productionTimeline(listing, source?.timeline);
  const { timeline, reason } = recoveryTimeline(listing, { explicit: input.timeline, production, backup: given ? baseBackupPoint(given) : undefined });
  if (input.timeline !== undefined && timeline !== 1 && !listing.histories.has(timeline) && !listing.segments.has(timeline)) {
    throw new PgwardenError('NotFound', `Timeline ${timeline} is not in the archive of "${input.database}" (archived: ${[...listing.segments.keys()].sort((a, b) => a - b).join(', ') || 'none'}).`);
  }
  const candidates = given ? [baseBackupPoint(given)] : backups.filter((b) => backupOnTimeline(listing, timeline, b));
  if (given && !backupOnTimeline(listing, timeline, candidates[0]!)) {
    throw new PgwardenError(
      'Refused',
      `Base backup ${given.id} (timeline ${given.base!.timeline}, consistent at LSN ${given.base!.stopLsn}) is not on the history of timeline ${timeline}: ` +
        `it cannot recover along it. Leave out --timeline to follow the backup's own, or choose a base backup of timeline ${timeline}.`,
    );
  }
  if (candidates.length === 0) {
    throw new PgwardenError(
      'NotFound',
      `No base backup of "${input.database}" lies on timeline ${timeline} (${reason}): ${backups.map((b) => `${b.id} is on timeline ${b.timeline}`).join(', ')}` +
        `${timeline > 1 && !listing.histories.has(timeline) ? `; timeline ${timeline}'s history file (${historyFileName(timeline)}) is not archived, so where it branched off is unknown` : ''}. ` +
        `Take a base backup (\`pgwarden basebackup --db ${input.database}\`), or restore along another timeline with --timeline.`,
    );
  }

  const serverMajor = Math.floor((given ?? manifests.at(-1)!).server.versionNum / 10_000);
  const waldump = join(serverBinDir(serverMajor, config.postgres.binDir), 'pg_waldump');
  // A restore point or a transaction: found in the WAL, so the base backup before it is known (not just the newest).
  let found: { lsn: bigint; record: string } | undefined;
  let chosen: BaseBackupPoint | undefined = given ? candidates[0] : undefined;
  if (!given && (target.kind === 'xid' || target.kind === 'name')) {
    const newest = reachFrom(listing, timeline, candidates.at(-1)!);
    const reporter = currentReporter();
    const hit = await locateTarget({
      repo,
      database: input.database,
      keys,
      waldump,
      listing,
      timeline,
      candidates,
      endSegno: newest.run.last?.segno ?? -1n,
      target,
      onProgress: (segments) => reporter.report({ phase: `searching the archived WAL for ${describeTarget(target)}`, bytesDone: 0, itemsDone: segments }),
    });
    found = hit;
    chosen = hit.backup;
  }
  chosen ??= chooseBaseBackup(candidates, target);
  if (!chosen) {
    const oldest = candidates[0]!;
    const reach = reachFrom(listing, timeline, oldest);
    const end = reach.run.last ? await closedAt(repo, input.database, reach.run.last.name) : undefined;
    throw new PgwardenError(
      'NotFound',
      `${describeTarget(target)} is before the oldest base backup of "${input.database}" on timeline ${timeline} became consistent (${oldest.stopTime}, LSN ${oldest.stopLsn}): ` +
        `nothing can be restored to it. ${end ? `The restore window is ${oldest.stopTime} to ${end.toISOString()}.` : 'The archive does not cover it either.'}`,
    );
  }
  const manifest = manifests.find((m) => m.id === chosen.id) ?? given!;
  await keyForBackup(config, manifest); // a missing or wrong key fails here, before any directory is made

  // Coverage from the base backup to the target, no further: a hole after the target does not matter.
  const reach = reachFrom(listing, timeline, chosen);
  const ownMissing = missingUpTo(listing, reach.path, stopSegno(listing, chosen));
  if (ownMissing.length > 0 || !reach.run.last) throw backupWalMissing(input.database, chosen, ownMissing.length ? ownMissing : [reach.run.next.name]);
  const last = reach.run.last;
  const endLsn = runEndLsn(listing, reach.run);
  // The segment holding the consistency point may have been closed a moment before the backup recorded its end.
  const endTime = new Date(Math.max((await closedAt(repo, input.database, last.name))?.getTime() ?? 0, Date.parse(chosen.stopTime)));
  const window = { from: chosen.stopTime, to: endTime.toISOString(), fromLsn: chosen.stopLsn, toLsn: formatLsn(endLsn) };
  const windowText = describeWindow(chosen, window.to, listing, reach.run);
  const hole = reach.run.beyond > 0 ? `WAL segment ${reach.run.next.name} is missing from the archive (${reach.run.beyond} archived segments after it cannot be reached from this base backup)` : undefined;
  const outside = (detail: string) =>
    new PgwardenError(
      'NotFound',
      `${describeTarget(target)} is outside what the archive covers: ${detail}. ${windowText} ` +
        (hole ? `${hole}: a base backup taken after the hole can reach later targets.` : `WAL newer than that may still be in the server's pg_wal, not archived yet.`),
    );
  let settings = recoverySettings(target);
  const notes: string[] = [];
  const needed = targetSegno(listing, target, found?.lsn);
  if (needed !== undefined) {
    const missing = missingUpTo(listing, reach.path, needed);
    if (target.kind === 'lsn' && parseLsn(target.lsn) < parseLsn(chosen.stopLsn)) throw outside(`base backup ${chosen.id} is consistent only from LSN ${chosen.stopLsn}`);
    if (missing.length > 0) {
      if (!hole && needed > last.segno) throw outside(`WAL is archived up to LSN ${window.toLsn}`);
      throw targetWalMissing(target, chosen, missing, windowText);
    }
  }
  if (target.kind === 'time') {
    if (epochMicros(target.time) > BigInt(endTime.getTime()) * 1000n) throw outside(`WAL is archived without a hole up to ${window.to} (segment ${last.name})`);
    // PostgreSQL refuses to end recovery before a time target is passed. If nothing committed after the target
    // in the archive, the latest state is the state at the target: recover to the end instead.
    const lastCommit = await lastCommitTime(repo, input.database, keys, last, listing.segmentSize, waldump);
    if (lastCommit !== undefined && lastCommit <= epochMicros(target.time)) {
      settings = {};
      notes.push(`nothing committed between ${isoFromMicros(lastCommit)} (the last commit in the archive) and the target: recovering to the end of the archive, which is the same state`);
    }
  }
  if (target.kind === 'latest' && hole) notes.push(`${hole}: recovery ends before it, at ${window.to}`);
  if (found) notes.push(`${describeTarget(target)} is at LSN ${formatLsn(found.lsn)} (${found.record}): starting from base backup ${chosen.id}, the newest before it`);
  if (timeline !== chosen.timeline) notes.push(`following timeline ${timeline} (${reason}) from base backup ${chosen.id} on timeline ${chosen.timeline}`);

  const { runAs, datadir, port, archiveAs } = await placeCluster(config, db.settings, input, source, serverMajor);

  const connectAs = parseUrl(db.source().url);
  return {
    baseBackupId: chosen.id,
    repository,
    target,
    targetDescription: describeTarget(target),
    settings,
    timeline,
    timelineReason: reason,
    notes,
    datadir,
    port,
    ...(runAs ? { runAs } : {}),
    serverMajor: Math.floor(manifest.server.versionNum / 10_000),
    window,
    segments: Number((needed ?? last.segno) - reach.path[0]!.fromSegno + 1n),
    stage: walStage(listing, timeline, reach, needed),
    ...(archiveAs ? { archiveAs } : {}),
    ...(db.view.rtoMs !== undefined ? { rtoMs: db.view.rtoMs } : {}),
    connectAs: { user: connectAs.user || 'postgres', database: connectAs.database || 'postgres' },
  };
}

/**
 * Where on this host the restored cluster goes: its data directory (new and empty), its port (free), the OS user
 * it runs as; never the running cluster's directory or port. Fails now, naming the package, when the server is missing.
 */
async function placeCluster(
  config: Config,
  settings: DatabaseSettings,
  input: PlanPitrInput,
  source: Awaited<ReturnType<typeof sourceNow>>['source'],
  serverMajor: number,
): Promise<{ runAs: string | undefined; datadir: string; port: number; archiveAs: string | undefined }> {
  serverBinDir(serverMajor, config.postgres.binDir); // fails now, naming the package, when the server is missing
  const runAs = process.getuid?.() === 0 ? settings.pitr?.runAs ?? 'postgres' : undefined;
  const user = await runAsUser(runAs);
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  const root = settings.pitr?.restoreDirectory ?? join(user?.home ?? process.env.HOME ?? tmpdir(), 'pgwarden-pitr');
  const datadir = checkPath(resolve(input.datadir ?? join(root, `${input.database}-${stamp}`)), '--datadir');
  refuseSymlink(datadir, '--datadir');
  if (existsSync(datadir) && readdirSync(datadir).length > 0) {
    throw new PgwardenError('Refused', `${datadir} exists and is not empty: a restore goes into a new data directory. Choose another --datadir.`);
  }
  const port = input.port ?? (await freePort());
  if (!(await portIsFree(port))) throw new PgwardenError('Refused', `Port ${port} is in use: choose another --port.`);
  if (source?.dataDirectory && resolve(source.dataDirectory) === datadir) {
    throw new PgwardenError('Refused', `${datadir} is the data directory of the running cluster of "${input.database}": never restoring over it.`);
  }
  if (source?.local && source.port === port) throw new PgwardenError('Refused', `Port ${port} is the running cluster's: choose another --port.`);
  const archiveAs = input.archiveAs ?? (input.archive ? ownArchiveName(input.database, stamp) : undefined);
  return { runAs, datadir, port, archiveAs };
}

/** Workflow input is checked before it reaches a file system path, a command line or a configuration file. */
function checkInput(input: PlanPitrInput): void {
  if (input.datadir !== undefined) checkPath(input.datadir, '--datadir');
  if (input.port !== undefined && !(Number.isInteger(input.port) && input.port >= 1024 && input.port <= 65535)) {
    throw new PgwardenError('Usage', `--port ${input.port} is not a port pgwarden starts a cluster on: 1024 to 65535.`);
  }
  if (input.timeline !== undefined && !(Number.isInteger(input.timeline) && input.timeline >= 1)) {
    throw new PgwardenError('Usage', `--timeline ${input.timeline} is not a timeline: a whole number from 1 (\`pgwarden wal status\` lists them).`);
  }
  if (input.archiveAs !== undefined) checkName(input.archiveAs, '--archive-as');
  // A backup id becomes part of a repository path (<database>/base/<id>/): nothing that leaves that folder.
  if (input.backup !== undefined && (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/.test(input.backup) || input.backup.includes('..'))) {
    throw new PgwardenError('Usage', `--backup ${JSON.stringify(input.backup)} is not a backup id: \`pgwarden backups list --db ${input.database}\` shows them.`);
  }
}

/** The archive a restored copy writes into by default: beside the source's, never in it. */
function ownArchiveName(database: string, stamp: string): string {
  return `${database.slice(0, 40)}-pitr-${stamp.toLowerCase()}`;
}
