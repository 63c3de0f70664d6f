// Activities of integrity verification: read every object of a backup back from its repository, check size and
// sha256 against the manifest, decrypt it with the configured key and decompress it (the plain size must match
// too), and check that the WAL every kept base backup needs is archived and intact. Everything streams: the
// decrypted bytes go to dd's /dev/null, nothing is written to disk.
import { PgwardenError } from '../../domain/errors.js';
import { databaseView } from '../../config/load.js';
import type { Config } from '../../config/schema.js';
import type { Progress } from '../../domain/progress.js';
import type { VerifiedBackup, VerifyFinding, VerifyResult } from '../../domain/verify.js';
import { listBackups } from '../catalog/list.js';
import { backupFolder, readManifest, type BackupManifest, type StoredObjectEntry } from '../catalog/manifest.js';
import { writeReport } from '../catalog/monitor-records.js';
import { objectSecretOf } from '../keys/backup-keys.js';
import { loadKeyring, noKeyError } from '../keys/keyring.js';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { byteCountStep, VerifyingMeter, type Sha256Meter } from '../pipeline/measure.js';
import { unsealInto } from '../pipeline/seal.js';
import { currentReporter, inParallel, reportEvery } from '../progress.js';
import { openRepository } from '../storage/open.js';
import type { Repository } from '../storage/repository.js';
import { fetchWalBytes, walKey } from '../wal/archive.js';
import { closedAt, listArchive, timelinePath, type ArchiveListing } from '../wal/coverage.js';
import { baseBackupPoint, productionTimeline, recoveryTimeline } from '../wal/plan.js';
import { sourceNow } from '../wal/source.js';
import { parseLsn, segmentName, segnoOfLsn } from '../wal/names.js';
import { openArchive, walRepositoryName } from '../wal/open.js';
import type { WalKeys } from '../keys/wal-keys.js';

export interface VerifyUnit {
  repository: string;
  type: 'logical' | 'base';
  id: string;
}

export interface VerifyPlan {
  units: VerifyUnit[];
  /** Check the WAL archive (PITR databases). */
  wal: boolean;
  /** Every backup and (where there is one) the WAL archive: only such a run can clear a verification alert. */
  complete: boolean;
  /** Complete logical backups per repository, newest last: to say what still restores. */
  logicalIds: Record<string, string[]>;
  baseIds: string[];
}

export interface BackupCheck {
  backup: VerifiedBackup;
  findings: VerifyFinding[];
  bytesRead: number;
}

export interface WalCheck {
  repository: string;
  segmentsChecked: number;
  findings: VerifyFinding[];
  broken: string[];
}

export function verifyActivities(config: Config) {
  return {
    /** What a verification reads: a backup id, the latest or all backups in every repository, and whether WAL. */
    async planVerify(input: { database: string; backup?: string; wal?: boolean }): Promise<VerifyPlan> {
      const db = databaseView(config, input.database);
      const pitr = db.settings.pitr !== undefined;
      if (input.wal && !pitr) {
        throw new PgwardenError('Usage', `Database "${input.database}" has no WAL archive (no pitr: in pgwarden.yaml): verify it without --wal.`);
      }
      // A missing key fails here, before anything is read; a worker with public keys only cannot check decryption.
      const keyring = await loadKeyring(config);
      if (keyring.openers.length === 0) throw noKeyError(keyring, undefined, 'the backups of "' + input.database + '" to verify that they decrypt');
      const selection = input.backup ?? 'all';
      const units: VerifyUnit[] = [];
      const logicalIds: Record<string, string[]> = {};
      for (const repository of db.allRepositories) {
        const all = await listBackups(openRepository(config, repository), input.database, 'logical');
        logicalIds[repository] = all.map((m) => m.id);
        for (const m of pick(all, selection)) units.push({ repository, type: 'logical', id: m.id });
      }
      let baseIds: string[] = [];
      if (pitr) {
        const repository = walRepositoryName(config, input.database);
        const bases = await listBackups(openRepository(config, repository), input.database, 'base');
        baseIds = bases.map((m) => m.id);
        for (const m of pick(bases, selection)) units.push({ repository, type: 'base', id: m.id });
      }
      if (units.length === 0 && selection !== 'all' && selection !== 'latest') {
        throw new PgwardenError('NotFound', `Backup "${selection}" of "${input.database}" is in none of its repositories (${db.allRepositories.join(', ')}): list them with \`pgwarden backups list --db ${input.database}\`.`);
      }
      const wal = input.wal ?? pitr;
      return { units, wal, complete: selection === 'all' && (wal || !pitr), logicalIds, baseIds };
    },

    async verifyBackup(input: { database: string } & VerifyUnit): Promise<BackupCheck> {
      return verifyBackup(config, input.database, input);
    },

    async verifyWal(input: { database: string }): Promise<WalCheck> {
      return verifyWal(config, input.database);
    },

    /** Keeps the report beside the backups (status, metrics and the monitor read it from there). */
    async recordVerify(report: VerifyResult): Promise<{ repository?: string }> {
      const repository = await writeReport(config, report.database, 'verify', report);
      return repository ? { repository } : {};
    },
  };
}

function pick(all: BackupManifest[], selection: string): BackupManifest[] {
  if (selection === 'all') return all;
  if (selection === 'latest') return all.slice(-1);
  return all.filter((m) => m.id === selection);
}

/** Which check an unseal failure failed, from pgwarden's own error texts. */
function classify(error: unknown): VerifyFinding['problem'] {
  const text = (error as Error)?.message ?? '';
  if (error instanceof PgwardenError && error.kind === 'NotFound') return 'missing';
  const sizes = /is corrupt: expected (\d+) bytes.*read (\d+) bytes/.exec(text);
  if (sizes) return sizes[1] === sizes[2] ? 'checksum' : 'size';
  if (/is corrupt|checksum mismatch/i.test(text)) return 'checksum'; // also the S3 client's own CRC check
  if (/Cannot decrypt/.test(text)) return 'decrypt';
  if (/does not decompress/.test(text)) return 'decompress';
  return 'content';
}

async function verifyBackup(config: Config, database: string, unit: VerifyUnit): Promise<BackupCheck> {
  const repo = openRepository(config, unit.repository);
  const folder = backupFolder(database, unit.type, unit.id);
  const findings: VerifyFinding[] = [];
  const where = (object: string, problem: VerifyFinding['problem'], detail: string): VerifyFinding => ({ repository: unit.repository, object: `${folder}${object}`, problem, detail });
  let manifest: BackupManifest | undefined;
  try {
    manifest = await readManifest(repo, folder);
  } catch (error) {
    findings.push(where('manifest.json', 'manifest', (error as Error).message));
  }
  if (!manifest) {
    if (findings.length === 0) findings.push(where('manifest.json', 'missing', `backup ${unit.id} has no manifest any more in repository "${unit.repository}"`));
    return { backup: { repository: unit.repository, id: unit.id, type: unit.type, objects: 0, storedBytes: 0, ok: false }, findings, bytesRead: 0 };
  }
  // The key that opens it: its data key, opened with a configured key (or, before envelopes, the passphrase).
  let passphrase = '';
  let keyMatches = false;
  try {
    passphrase = (await objectSecretOf(config, repo, folder, manifest)).secret;
    keyMatches = true;
  } catch (error) {
    if (!(error instanceof PgwardenError) || error.retryable) throw error;
    const keyObject = manifest.encryption.scheme === 'openpgp-envelope-v1' ? manifest.encryption.dataKey : 'manifest.json';
    findings.push(where(keyObject, 'key', `backup ${unit.id} does not open with the configured keys: ${error.message}`));
  }

  const reporter = currentReporter();
  const meters: Sha256Meter[] = [];
  let done = 0;
  const stop = reportEvery(reporter, (): Progress => ({
    phase: `verifying ${unit.type} backup ${unit.id} in ${unit.repository}`,
    bytesDone: meters.reduce((sum, m) => sum + m.bytes, 0),
    bytesTotal: manifest.storedBytes,
    itemsDone: done,
    itemsTotal: manifest.objects.length,
  }));
  try {
    await inParallel(manifest.objects, config.backup.jobs, async (object: StoredObjectEntry) => {
      const expected = { key: `${folder}${object.name}`, sha256: object.sha256, storedBytes: object.storedBytes };
      try {
        if (!keyMatches) {
          // Without the key only the stored bytes can be checked: still worth knowing they are intact.
          await unsealOnlyChecksum(repo, expected, (m) => meters.push(m));
        } else {
          const plain = { bytes: 0 };
          await unsealInto(repo, expected, passphrase, [byteCountStep(plain)], { ...(reporter.signal ? { signal: reporter.signal } : {}), onMeter: (m) => meters.push(m), output: 'ignore' });
          if (plain.bytes !== object.rawBytes) {
            findings.push(where(object.name, 'content', `decrypts and decompresses to ${plain.bytes} bytes, the manifest says ${object.rawBytes}`));
          }
        }
      } catch (error) {
        if (reporter.signal?.aborted) throw error;
        findings.push(where(object.name, classify(error), (error as Error).message.split('\n')[0]!));
      }
      done += 1;
    });
  } finally {
    stop();
  }
  return {
    backup: { repository: unit.repository, id: unit.id, type: unit.type, objects: manifest.objects.length, storedBytes: manifest.storedBytes, ok: findings.length === 0 },
    findings,
    bytesRead: meters.reduce((sum, m) => sum + m.bytes, 0),
  };
}

/** Reads an object through the size and sha256 check only. */
async function unsealOnlyChecksum(repo: Repository, expected: { key: string; sha256: string; storedBytes: number }, onMeter: (m: Sha256Meter) => void): Promise<void> {
  const meter = new VerifyingMeter(expected, (m) => new PgwardenError('Integrity', `${expected.key} in repository "${repo.name}" is corrupt: expected ${expected.storedBytes} bytes with sha256 ${expected.sha256.slice(0, 16)}…, read ${m.bytes} bytes with sha256 ${m.sha256.slice(0, 16)}….`));
  onMeter(meter);
  await pipeline(await repo.get(expected.key), meter, new Writable({ write: (_c, _e, done) => done() }));
}

/**
 * The WAL archive against its base backups: every segment from each base backup's start along the timeline a
 * recovery would follow (the source's, or the backup's own when the source branched off before it; see wal/plan.ts),
 * up to the newest archived one, must be there and open with the configured key.
 */
async function verifyWal(config: Config, database: string): Promise<WalCheck> {
  const { repo, keys } = openArchive(config, database);
  try {
    return await verifyWalWith(config, database, repo, keys);
  } finally {
    await keys.close();
  }
}

async function verifyWalWith(config: Config, database: string, repo: Repository, keys: WalKeys): Promise<WalCheck> {
  const listing = await listArchive(repo, database, keys);
  const bases = await listBackups(repo, database, 'base');
  const findings: VerifyFinding[] = [];
  const finding = (name: string, problem: VerifyFinding['problem'], detail: string): VerifyFinding => ({ repository: repo.name, object: walKey(database, name), problem, detail });

  // Each base backup's path through the archive, as segment names in order.
  const production = productionTimeline(listing, (await sourceNow(config, database)).source?.timeline);
  const paths = bases.map((backup) => ({ backup, names: neededSegments(listing, backup, recoveryTimeline(listing, { production, backup: baseBackupPoint(backup) }).timeline) }));
  const needed = [...new Set(paths.flatMap((p) => p.names.map((n) => n.name)))];
  const archived = new Set(listing.files.map((f) => f.name));
  const bad = new Map<string, VerifyFinding['problem']>();
  for (const name of needed) {
    if (!archived.has(name)) {
      bad.set(name, 'missing');
      findings.push(finding(name, 'missing', `WAL segment ${name} is not in the archive`));
    }
  }
  const reporter = currentReporter();
  let checked = 0;
  const present = needed.filter((n) => !bad.has(n));
  const stop = reportEvery(reporter, (): Progress => ({ phase: 'verifying WAL', bytesDone: 0, itemsDone: checked, itemsTotal: present.length }));
  try {
    await inParallel(present, 4, async (name) => {
      try {
        await fetchWalBytes(repo, database, name, keys);
      } catch (error) {
        if (reporter.signal?.aborted) throw error;
        const problem = /Cannot decrypt|passphrase|configured keys|only public keys/.test((error as Error).message) ? 'decrypt' : 'checksum';
        bad.set(name, problem);
        findings.push(finding(name, problem, (error as Error).message.split('\n')[0]!));
      }
      checked += 1;
    });
  } finally {
    stop();
  }

  // What each damaged or missing segment breaks, per base backup.
  const broken: string[] = [];
  for (const { backup, names } of paths) {
    const first = names.find((n) => bad.has(n.name));
    if (!first) continue;
    const what = bad.get(first.name) === 'missing' ? 'missing' : 'damaged';
    if (first.beforeConsistent) {
      broken.push(`base backup ${backup.id} can no longer be restored at all: WAL segment ${first.name}, which it needs to become consistent, is ${what}`);
      continue;
    }
    const lastGood = names[names.indexOf(first) - 1];
    const until = lastGood ? await closedAt(repo, database, lastGood.name).catch(() => undefined) : undefined;
    const later = bases.find((b) => segnoOfLsn(parseLsn(b.base!.startLsn), listing.segmentSize) > first.segno);
    broken.push(
      `point-in-time restores from base backup ${backup.id} reach only to ${until?.toISOString() ?? `segment ${lastGood?.name ?? '?'}`}: WAL segment ${first.name} is ${what}; ` +
        (later ? `moments after that restore only from base backup ${later.id} on (from ${later.base!.stopTime})` : 'no later base backup covers what comes after it: take a base backup now'),
    );
  }
  return { repository: repo.name, segmentsChecked: checked, findings, broken };
}

/** The segments recovery from `backup` along `timeline` reads, in order, up to the newest archived on the timeline it ends on. */
function neededSegments(listing: ArchiveListing, backup: BackupManifest, timeline: number): Array<{ name: string; segno: bigint; beforeConsistent: boolean }> {
  const base = backup.base!;
  const startSegno = segnoOfLsn(parseLsn(base.startLsn), listing.segmentSize);
  const stopSegno = segnoOfLsn(parseLsn(base.stopLsn) - 1n, listing.segmentSize);
  const names: Array<{ name: string; segno: bigint; beforeConsistent: boolean }> = [];
  for (const hop of timelinePath(listing, timeline, startSegno)) {
    const have = [...(listing.segments.get(hop.timeline) ?? [])];
    const newest = have.reduce((max, s) => (s > max ? s : max), -1n);
    // The WAL up to the backup's consistency point is needed even when none of it was archived.
    const end = hop.toSegno ?? (hop.timeline === base.timeline && stopSegno > newest ? stopSegno : newest);
    for (let segno = hop.fromSegno; segno <= end; segno += 1n) {
      names.push({ name: segmentName(hop.timeline, segno, listing.segmentSize), segno, beforeConsistent: hop.timeline === base.timeline && segno <= stopSegno });
    }
  }
  return names;
}
