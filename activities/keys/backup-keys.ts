// Which key opens a backup's objects: for a new backup a fresh data key stored in its folder; for an existing one
// its data key opened with the configured keys, or, for backups made before envelope encryption, the passphrase
// whose fingerprint the manifest records. Restores, PITR, verification and `backups list` all ask here.
import type { Config } from '../../config/schema.js';
import type { BackupManifest, EnvelopeEncryption } from '../catalog/manifest.js';
import { ENVELOPE_SCHEME, keyFingerprint } from '../pipeline/encrypt.js';
import type { Repository } from '../storage/repository.js';
import { DATA_KEY_FILE, newDataKey, openDataKey, storeDataKey } from './data-key.js';
import { DataKeyOpener, describeOpener, loadKeyring, matchingOpener, noKeyError, type Keyring, type Opener } from './keyring.js';

/** Creates the data key of a new backup in `folder` (before any object that it encrypts). */
export async function newBackupKey(config: Config, repo: Repository, folder: string, retainUntil?: Date): Promise<{ secret: string; encryption: EnvelopeEncryption }> {
  const keyring = await loadKeyring(config);
  const secret = newDataKey();
  const keys = await storeDataKey(repo, `${folder}${DATA_KEY_FILE}`, secret, keyring, retainUntil ? { retainUntil } : {});
  return { secret, encryption: { scheme: ENVELOPE_SCHEME, dataKey: DATA_KEY_FILE, keys } };
}

/**
 * The configured key that opens `manifest`'s backup, found without reading any object: the salted fingerprint of a
 * passphrase, the fingerprint of a private key. Fails with the message that says which key is needed.
 */
export async function keyForBackup(config: Config, manifest: BackupManifest): Promise<Opener> {
  const keyring = await loadKeyring(config);
  const what = `backup ${manifest.id} of "${manifest.database}"`;
  if (manifest.encryption.scheme !== ENVELOPE_SCHEME) {
    const recorded = manifest.encryption.keyFingerprint;
    for (const opener of keyring.openers) if (opener.kind === 'passphrase' && (await keyFingerprint(opener.passphrase)) === recorded) return opener;
    throw noKeyError(keyring, [{ type: 'passphrase', fingerprint: recorded }], `${what} (made before envelope encryption: encrypted with a passphrase itself)`);
  }
  const opener = await matchingOpener(keyring, manifest.encryption.keys);
  if (!opener) throw noKeyError(keyring, manifest.encryption.keys, what);
  return opener;
}

/** What gpg needs to decrypt the backup's objects: its data key, opened now; or the passphrase (before envelopes). */
export async function objectSecretOf(config: Config, repo: Repository, folder: string, manifest: BackupManifest): Promise<{ secret: string; dataKey: boolean }> {
  const opener = await keyForBackup(config, manifest);
  if (manifest.encryption.scheme !== ENVELOPE_SCHEME) return { secret: (opener as Extract<Opener, { kind: 'passphrase' }>).passphrase, dataKey: false };
  const unwrapper = new DataKeyOpener(await loadKeyring(config));
  try {
    return { secret: await openDataKey(repo, `${folder}${manifest.encryption.dataKey}`, unwrapper, manifest.encryption.keys), dataKey: true };
  } finally {
    await unwrapper.close();
  }
}

/** For `backups list`: which configured key opens it ("passphrase", "previous passphrase …", "private key …"), or who it needs. */
export async function describeBackupKey(keyring: Keyring, manifest: BackupManifest): Promise<{ opensWith?: string; wrappedFor: string[] }> {
  if (manifest.encryption.scheme !== ENVELOPE_SCHEME) {
    const recorded = manifest.encryption.keyFingerprint;
    for (const opener of keyring.openers) {
      if (opener.kind === 'passphrase' && (await keyFingerprint(opener.passphrase)) === recorded) return { opensWith: `${label(opener)} (no data key: made before envelope encryption)`, wrappedFor: ['passphrase'] };
    }
    return { wrappedFor: ['passphrase (made before envelope encryption)'] };
  }
  const wrappedFor = manifest.encryption.keys.map((k) => (k.type === 'passphrase' ? 'passphrase' : `key ${k.fingerprint.slice(-16)}${k.userId ? ` ${k.userId}` : ''}`));
  const opener = await matchingOpener(keyring, manifest.encryption.keys);
  return { ...(opener ? { opensWith: label(opener) } : {}), wrappedFor };
}

function label(opener: Opener): string {
  const previous = opener.previous ? 'previous ' : '';
  return opener.kind === 'passphrase' ? `${previous}passphrase` : `${previous}private key ${opener.key.fingerprint.slice(-16)}`;
}

export { describeOpener };
