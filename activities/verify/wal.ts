// Verifying the WAL archive against its base backups: every segment from each base backup's start along the
// timeline a recovery would follow must be there and open with the configured key; what a damaged or missing
// one breaks is said per base backup.
import type { Config } from '../../config/schema.js';
import type { Progress } from '../../domain/progress.js';
import type { VerifyFinding } from '../../domain/verify.js';
import { listBackups } from '../catalog/list.js';
import type { BackupManifest } from '../catalog/manifest.js';
import type { WalKeys } from '../keys/wal-keys.js';
import { currentReporter, inParallel, reportEvery } from '../progress.js';
import type { Repository } from '../storage/repository.js';
import { fetchWalBytes, walKey } from '../wal/archive.js';
import { closedAt, listArchive, timelinePath, type ArchiveListing } from '../wal/coverage.js';
import { parseLsn, segmentName, segnoOfLsn } from '../wal/names.js';
import { openArchive } from '../wal/open.js';
import { baseBackupPoint, productionTimeline, recoveryTimeline } from '../wal/plan.js';
import { sourceNow } from '../wal/source.js';
import type { WalCheck } from './inputs.js';

/**
 * The WAL archive against its base backups: every segment from each base backup's start along the timeline a
 * recovery would follow (the source's, or the backup's own when the source branched off before it; see wal/plan.ts),
 * up to the newest archived one, must be there and open with the configured key.
 */
export async function verifyWal(config: Config, database: string): Promise<WalCheck> {
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
