// Step 2 of a point-in-time restore: the base backup into a NEW data directory (tar as the cluster's user, checked
// with pg_verifybackup), while the first WAL that recovery will ask for is fetched beside it.
import { chownSync, existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { PgwardenError } from '../../domain/errors.js';
import type { Config } from '../../config/schema.js';
import type { Progress } from '../../domain/progress.js';
import { BASE_OBJECT } from '../basebackup/take.js';
import { findBackup } from '../catalog/list.js';
import { objectSecretOf } from '../keys/backup-keys.js';
import type { WalKeys } from '../keys/wal-keys.js';
import { backupFolder } from '../catalog/manifest.js';
import type { Step } from '../pipeline/chain.js';
import { FilterGroup } from '../pipeline/filters.js';
import { unsealInto } from '../pipeline/seal.js';
import { currentReporter, inParallel, reportEvery } from '../progress.js';
import type { Repository } from '../storage/repository.js';
import { fetchWalBytes } from '../wal/archive.js';
import { openArchive } from '../wal/open.js';
import type { WalStage } from '../wal/plan.js';
import { MISSING, spoolFile } from '../wal/spool.js';
import { checkPath } from './commands.js';
import { auxDirectory, CREATED_ABOVE, createdAbove, MARKER, refuseSymlink, restoredCluster, runAsUser, stageDirectory } from './datadir.js';

export interface RestoreBaseInput {
  database: string;
  baseBackupId: string;
  datadir: string;
  runAs?: string;
  stage?: WalStage;
}

export interface RestoreBaseOutput {
  restoreMs: number;
  bytes: number;
  verified: boolean;
  staged: number;
  /** From the start until the base backup's files were all written (absent from results of workers before it). */
  filesMs?: number;
  /** From the start until the staged WAL was all in (the restore waits for both; absent from results of workers before it). */
  stagedMs?: number;
}

export async function restoreBaseBackup(config: Config, input: RestoreBaseInput): Promise<RestoreBaseOutput> {
  const started = Date.now();
  const { repo, keys } = openArchive(config, input.database);
  try {
    return await restoreWithKeys(config, input, repo, keys, started);
  } finally {
    await keys.close();
  }
}

async function restoreWithKeys(config: Config, input: RestoreBaseInput, repo: Repository, keys: WalKeys, started: number): Promise<RestoreBaseOutput> {
  const folder = backupFolder(input.database, 'base', input.baseBackupId);
  const manifest = await findBackup(repo, input.database, 'base', input.baseBackupId);
  const { secret } = await objectSecretOf(config, repo, folder, manifest);
  const object = manifest.objects.find((o) => o.name === BASE_OBJECT)!;
  const user = await runAsUser(input.runAs);
  const cluster = await restoredCluster(config, { datadir: input.datadir, serverMajor: Math.floor(manifest.server.versionNum / 10_000), ...(input.runAs ? { runAs: input.runAs } : {}) });

  checkPath(input.datadir, 'The data directory');
  refuseSymlink(input.datadir, '--datadir');
  // Directories an earlier attempt of this restore made above the data directory: still this restore's to remove.
  const created = createdAbove(input.datadir);
  if (existsSync(input.datadir) && readdirSync(input.datadir).some((f) => f !== MARKER)) {
    if (!existsSync(join(input.datadir, MARKER))) throw new PgwardenError('Refused', `${input.datadir} is not empty: not restoring into it.`);
    rmSync(input.datadir, { recursive: true, force: true }); // our own, from an earlier attempt of this restore
  }
  // Directories created above the data directory belong to the cluster's user too, or it cannot reach its data.
  const missing: string[] = [];
  for (let dir = dirname(input.datadir); !existsSync(dir); dir = dirname(dir)) missing.unshift(dir);
  for (const dir of missing) {
    mkdirSync(dir, { mode: 0o755 });
    if (user) chownSync(dir, user.uid, user.gid);
  }
  mkdirSync(input.datadir, { recursive: true, mode: 0o700 });
  // The marker names the directories made above the data directory: a failed restore removes them too (discard.ts).
  writeFileSync(
    join(input.datadir, MARKER),
    `created by pgwarden for base backup ${input.baseBackupId} at ${new Date().toISOString()}\n${[...created, ...missing].map((dir) => `${CREATED_ABOVE}${dir}\n`).join('')}`,
  );
  cluster.own(input.datadir);

  const reporter = currentReporter();
  const filters = new FilterGroup();
  const stop = reportEvery(reporter, (): Progress => ({ phase: 'restoring base backup', bytesDone: filters.bytes('stored-size'), bytesTotal: object.storedBytes }));
  try {
    // tar runs as the cluster's user, so that the files are its own. A base backup of a restored copy (one that
    // became the new primary) holds that copy's pgwarden folder (spool, restore.yaml): not this restore's.
    const tarArgs = ['-x', '-f', '-', '-C', input.datadir, `--exclude=${MARKER}`, '--exclude=pgwarden'];
    const tar: Step = user ? { command: 'runuser', args: ['-u', user.name, '--', 'tar', ...tarArgs], label: 'tar' } : { command: 'tar', args: tarArgs, label: 'tar' };
    // While the base backup streams in, the WAL that recovery will ask for first comes down beside it.
    let stagedMs: number | undefined;
    let filesIn = false;
    const staging = stageWal(repo, input.database, keys, input.stage, stageDirectory(input.datadir), () => filesIn).then((count) => {
      stagedMs = Date.now() - started;
      return count;
    });
    staging.catch(() => undefined);
    await unsealInto(repo, { key: `${folder}${object.name}`, sha256: object.sha256, storedBytes: object.storedBytes }, secret, [tar], {
      ...(reporter.signal ? { signal: reporter.signal } : {}),
      filters,
    });
    const filesMs = Date.now() - started;
    filesIn = true; // no new fetches: the feeder of the recovery step goes on from what is staged, beside the redo
    const staged = await staging;
    // The WAL data keys from the backup's day on, opened once here: restore_command (wal-fetch) then decrypts
    // without a passphrase or private key. They go when recovery ends (recoverCluster).
    await keys.placeKeys(new Date(Date.parse(manifest.base!.startTime) - 86_400_000).toISOString().slice(0, 10).replace(/-/g, ''), stageDirectory(input.datadir));
    cluster.own(auxDirectory(input.datadir));

    // pg_basebackup put a manifest with a checksum of every file into the tar: check the files against it.
    let verified = false;
    if (existsSync(join(input.datadir, 'backup_manifest'))) {
      const check = await cluster.run('pg_verifybackup', ['--no-parse-wal', '--quiet', `--ignore=${MARKER}`, '--ignore=pgwarden', input.datadir], { reject: false });
      if (check.exitCode !== 0) {
        throw new PgwardenError('Integrity', `pg_verifybackup found the restored files of base backup ${input.baseBackupId} damaged:\n  ${(check.stderr || check.stdout).trim()}`);
      }
      verified = true;
    }
    return { restoreMs: Date.now() - started, bytes: object.rawBytes, verified, staged, filesMs, ...(stagedMs !== undefined ? { stagedMs } : {}) };
  } finally {
    stop();
  }
}

/** Files staged however soon the base backup is in: recovery's first requests never wait for a fetch of their own. */
const STAGE_AT_LEAST = 4;

/**
 * Fetches (and verifies) the staged WAL files into `<dir>/in`, in order, 3 at a time, and marks the ones known not
 * to be archived. Once `filesIn()` (the base backup is on disk) and the first STAGE_AT_LEAST are staged, it starts
 * no more: recovery starts at once, and the recovery step's feeder fetches the rest while PostgreSQL replays
 * (waiting here for all of them put their whole fetch time before the redo instead of beside it).
 */
async function stageWal(repo: Repository, database: string, keys: WalKeys, stage: WalStage | undefined, dir: string, filesIn: () => boolean): Promise<number> {
  if (!stage) return 0;
  const incoming = join(dir, 'in');
  mkdirSync(incoming, { recursive: true, mode: 0o700 });
  let staged = 0;
  await inParallel(stage.files, 3, async (name, i) => {
    // History files always (the feeder fetches segments only); segments past the first few only while the base backup streams.
    if (!name.endsWith('.history') && i >= STAGE_AT_LEAST && filesIn()) return;
    const bytes = await fetchWalBytes(repo, database, name, keys);
    if (!bytes) return; // gone since the plan: wal-fetch will say so
    spoolFile(incoming, name, bytes); // with its sha256: restore_command uses it only while it matches
    staged += 1;
  });
  for (const name of stage.missing) writeFileSync(join(incoming, `${name}${MISSING}`), new Date().toISOString());
  return staged;
}
