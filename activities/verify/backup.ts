// Verifying one backup: every object read back from its repository, size and sha256 checked against the
// manifest, decrypted with the configured key and decompressed (the plain size must match too). Everything
// streams: the decrypted bytes go to dd's /dev/null, nothing is written to disk.
import { PgwardenError } from '../../domain/errors.js';
import type { Config } from '../../config/schema.js';
import type { Progress } from '../../domain/progress.js';
import type { VerifyFinding } from '../../domain/verify.js';
import { backupFolder, readManifest, type BackupManifest, type StoredObjectEntry } from '../catalog/manifest.js';
import { objectSecretOf } from '../keys/backup-keys.js';
import { FilterGroup, rawSizeStep } from '../pipeline/filters.js';
import { checkStored, unsealInto } from '../pipeline/seal.js';
import { currentReporter, inParallel, reportEvery } from '../progress.js';
import { openRepository } from '../storage/open.js';
import type { Repository } from '../storage/repository.js';
import type { BackupCheck, VerifyUnit } from './inputs.js';

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

export async function verifyBackup(config: Config, database: string, unit: VerifyUnit): Promise<BackupCheck> {
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
  const paths: FilterGroup[] = [];
  let done = 0;
  const stop = reportEvery(reporter, (): Progress => ({
    phase: `verifying ${unit.type} backup ${unit.id} in ${unit.repository}`,
    bytesDone: paths.reduce((sum, p) => sum + p.bytes('stored-size'), 0),
    bytesTotal: manifest.storedBytes,
    itemsDone: done,
    itemsTotal: manifest.objects.length,
  }));
  try {
    await inParallel(manifest.objects, config.backup.jobs, async (object: StoredObjectEntry) => {
      const expected = { key: `${folder}${object.name}`, sha256: object.sha256, storedBytes: object.storedBytes };
      const filters = new FilterGroup();
      paths.push(filters);
      try {
        if (!keyMatches) {
          // Without the key only the stored bytes can be checked: still worth knowing they are intact.
          await checkStored(repo, expected, {
            filters,
            corrupt: (m) => new PgwardenError('Integrity', `${expected.key} in repository "${repo.name}" is corrupt: expected ${expected.storedBytes} bytes with sha256 ${expected.sha256.slice(0, 16)}…, read ${m.bytes} bytes with sha256 ${m.sha256.slice(0, 16)}….`),
          });
        } else {
          filters.add(rawSizeStep());
          await unsealInto(repo, expected, passphrase, [], { ...(reporter.signal ? { signal: reporter.signal } : {}), filters, output: 'ignore' });
          const plain = filters.result('raw-size');
          if (plain !== object.rawBytes) {
            findings.push(where(object.name, 'content', `decrypts and decompresses to ${plain} bytes, the manifest says ${object.rawBytes}`));
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
    bytesRead: paths.reduce((sum, p) => sum + p.bytes('stored-size'), 0),
  };
}
