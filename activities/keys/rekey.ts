// Key rotation without touching the data: every data key of a database (its logical and base backups, in every
// repository, and its WAL days) is opened with any configured key, current or previous, and wrapped again for the
// current keys only. Idempotent: a data key already wrapped for exactly the current keys is left alone, so a rekey
// that stopped anywhere resumes by running again.
import { databaseView } from '../../config/load.js';
import type { Config } from '../../config/schema.js';
import { PgwardenError } from '../../domain/errors.js';
import { listBackups } from '../catalog/list.js';
import { backupFolder, readManifest, writeManifest } from '../catalog/manifest.js';
import { ENVELOPE_SCHEME } from '../pipeline/encrypt.js';
import { currentReporter } from '../progress.js';
import { logicalRetainUntil, pitrRetainUntil, walKeyRetainUntil } from '../storage/lock.js';
import { openRepository } from '../storage/open.js';
import { walFolder, walNameOfKey } from '../wal/archive.js';
import { walRepositoryName } from '../wal/open.js';
import { storeDataKey, WRAPPED_FOR } from './data-key.js';
import { repositorySalt } from './fingerprint.js';
import { currentKeyRefs, DataKeyOpener, decodeKeyRefs, describeKeyRef, loadKeyring, sameKeys, type Keyring } from './keyring.js';
import { unwrapWithPassphrase } from './openpgp.js';
import { DATA_KEY_META, walKeyObject, walKeysFolder } from './wal-keys.js';

/** One data key to re-wrap: a backup's (by id) or a WAL day's (by key id). */
export interface RekeyItem {
  repository: string;
  kind: 'logical' | 'base' | 'wal';
  id: string;
}

export interface RekeyPlan {
  items: RekeyItem[];
  /** Backups made before envelope encryption: no data key to re-wrap, they open with their passphrase only. */
  beforeEnvelope: Array<{ repository: string; kind: 'logical' | 'base'; id: string }>;
  /** Whether the WAL archive still holds segments from before envelope encryption (same: passphrase only). */
  walBeforeEnvelope: boolean;
  /** Who the data keys will be wrapped for, in words. */
  wrappedFor: string[];
}

export interface RekeyBatchResult {
  rewrapped: number;
  alreadyCurrent: number;
  /** Gone since the plan (retention removed it): nothing to do. */
  gone: number;
  failed: Array<RekeyItem & { error: string; errorKind: string }>;
}

export function rekeyActivities(config: Config) {
  return {
    async planRekey(input: { database: string }): Promise<RekeyPlan> {
      return planRekey(config, input.database);
    },
    /** Re-wraps `items` (a batch of the plan); `offset`/`total` place it in the whole for progress. */
    async rekeyDataKeys(input: { database: string; items: RekeyItem[]; offset: number; total: number }): Promise<RekeyBatchResult> {
      return rekeyDataKeys(config, input);
    },
  };
}

async function planRekey(config: Config, database: string): Promise<RekeyPlan> {
  const db = databaseView(config, database);
  const keyring = await loadKeyring(config);
  const items: RekeyItem[] = [];
  const beforeEnvelope: RekeyPlan['beforeEnvelope'] = [];
  for (const repository of db.allRepositories) {
    for (const manifest of await listBackups(openRepository(config, repository), database, 'logical')) {
      (manifest.encryption.scheme === ENVELOPE_SCHEME ? items : beforeEnvelope).push({ repository, kind: 'logical', id: manifest.id });
    }
  }
  const walRepository = walRepositoryName(config, database);
  const walRepo = openRepository(config, walRepository);
  for (const manifest of await listBackups(walRepo, database, 'base')) {
    (manifest.encryption.scheme === ENVELOPE_SCHEME ? items : beforeEnvelope).push({ repository: walRepository, kind: 'base', id: manifest.id });
  }
  for await (const object of walRepo.list(walKeysFolder(database))) {
    const id = object.key.slice(walKeysFolder(database).length).replace(/\.asc$/, '');
    if (/^\d{8}-[0-9a-f]{8}$/.test(id)) items.push({ repository: walRepository, kind: 'wal', id });
  }
  // Segments are archived in order: if the oldest one names no data key, the archive has WAL from before.
  let walBeforeEnvelope = false;
  for await (const object of walRepo.list(walFolder(database))) {
    if (!walNameOfKey(database, object.key)) continue;
    walBeforeEnvelope = (await walRepo.head(object.key))?.metadata?.[DATA_KEY_META] === undefined;
    break;
  }
  const wrappedFor = [
    ...(keyring.passphrase ? [`the passphrase in ${keyring.passphrase.source}`] : []),
    ...keyring.recipients.map((key) => describeKeyRef({ type: 'openpgp', fingerprint: key.fingerprint, ...(key.userId ? { userId: key.userId } : {}) })),
  ];
  return { items, beforeEnvelope, walBeforeEnvelope, wrappedFor };
}

async function rekeyDataKeys(config: Config, input: { database: string; items: RekeyItem[]; offset: number; total: number }): Promise<RekeyBatchResult> {
  const keyring = await loadKeyring(config);
  const opener = new DataKeyOpener(keyring);
  const reporter = currentReporter();
  const result: RekeyBatchResult = { rewrapped: 0, alreadyCurrent: 0, gone: 0, failed: [] };
  try {
    for (const [i, item] of input.items.entries()) {
      reporter.report({ phase: 're-wrapping data keys', bytesDone: 0, itemsDone: input.offset + i, itemsTotal: input.total, detail: `${item.kind} ${item.id} in ${item.repository}` });
      try {
        const outcome = await rekeyOne(config, keyring, opener, input.database, item);
        if (outcome === 'rewrapped') result.rewrapped += 1;
        else if (outcome === 'current') result.alreadyCurrent += 1;
        else result.gone += 1;
      } catch (error) {
        // Keep going: one key that no configured key opens must not stop the others from being rotated.
        if (!(error instanceof PgwardenError) || error.retryable) throw error;
        result.failed.push({ ...item, error: error.message, errorKind: error.kind });
      }
    }
    reporter.report({ phase: 're-wrapping data keys', bytesDone: 0, itemsDone: input.offset + input.items.length, itemsTotal: input.total });
    return result;
  } finally {
    await opener.close();
  }
}

async function rekeyOne(config: Config, keyring: Keyring, opener: DataKeyOpener, database: string, item: RekeyItem): Promise<'rewrapped' | 'current' | 'gone'> {
  const repo = openRepository(config, item.repository);
  const current = await currentKeyRefs(keyring, await repositorySalt(repo));
  const folder = item.kind === 'wal' ? undefined : backupFolder(database, item.kind, item.id);
  const manifest = folder ? await readManifest(repo, folder) : undefined;
  if (folder && !manifest) return 'gone';
  if (manifest && manifest.encryption.scheme !== ENVELOPE_SCHEME) return 'current'; // nothing to re-wrap
  const keyObject = folder ? `${folder}${(manifest!.encryption as { dataKey: string }).dataKey}` : walKeyObject(database, item.id);
  const stored = await repo.getBytesWithMetadata(keyObject);
  if (!stored) {
    if (folder) throw new PgwardenError('NotFound', `The data key of ${item.kind} backup ${item.id} is missing from repository "${item.repository}": that backup cannot be opened by anyone.`);
    return 'gone';
  }
  const recorded = decodeKeyRefs(stored.metadata[WRAPPED_FOR]);
  // The same date the object has (Object Lock); for an object written without one, the date its kind would get.
  const head = await repo.head(keyObject);
  const retainUntil =
    head?.retainUntil ??
    (manifest
      ? manifest.type === 'base'
        ? pitrRetainUntil(config, database, Date.parse(manifest.startedAt))
        : logicalRetainUntil(config, manifest.kind, Date.parse(manifest.startedAt))
      : walKeyRetainUntil(config, database, Date.parse(`${item.id.slice(0, 4)}-${item.id.slice(4, 6)}-${item.id.slice(6, 8)}T00:00:00Z`)));
  let outcome: 'rewrapped' | 'current' = 'current';
  if (!recorded || !sameKeys(recorded, current)) {
    const { secret } = await opener.open(stored.data, recorded, `data key ${keyObject} in repository "${item.repository}"`);
    await storeDataKey(repo, keyObject, secret, keyring, { retainUntil });
    // Read back what is now the only wrapped copy (outside a versioned bucket) and open it with a current key.
    const written = await repo.getBytes(keyObject);
    if (keyring.passphrase && (!written || (await unwrapWithPassphrase(written, keyring.passphrase.value)) !== secret)) {
      await repo.putBytes(keyObject, stored.data, { metadata: stored.metadata, retainUntil });
      throw new PgwardenError('Failed', `The re-wrapped data key ${keyObject} did not open with the current passphrase: the previous one was put back.`, { retryable: true });
    }
    outcome = 'rewrapped';
  }
  if (manifest && manifest.encryption.scheme === ENVELOPE_SCHEME && !sameKeys(manifest.encryption.keys, current)) {
    // Read again just before writing: retention may have removed the backup meanwhile (it deletes manifests first).
    if (!(await readManifest(repo, folder!))) return 'gone';
    await writeManifest(repo, folder!, { ...manifest, encryption: { ...manifest.encryption, keys: current } }, { retainUntil });
    outcome = 'rewrapped';
  }
  return outcome;
}
