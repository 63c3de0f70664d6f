// Data keys: a random key per backup (and per day of WAL) that encrypts the objects, stored next to them wrapped
// for the configured keys. Opening a backup costs one unwrap; every object after that is cheap to decrypt, and a
// key rotation re-wraps the data key without touching the data.
import { randomBytes } from 'node:crypto';
import { PgwardenError } from '../../domain/errors.js';
import type { Repository } from '../storage/repository.js';
import { repositorySalt } from './fingerprint.js';
import { currentKeyRefs, decodeKeyRefs, encodeKeyRefs, type DataKeyOpener, type Keyring, type KeyRef } from './keyring.js';
import { wrapSecret } from './openpgp.js';

/** In a backup's folder: its data key, wrapped (`gpg --decrypt datakey.asc` opens it). */
export const DATA_KEY_FILE = 'datakey.asc';
/** Object metadata of a wrapped data key: who it is wrapped for (encodeKeyRefs). */
export const WRAPPED_FOR = 'wrapped-for';

/** 256 random bits, as the hex text gpg gets as the "passphrase" of every object. */
export function newDataKey(): string {
  return randomBytes(32).toString('hex');
}

/** Wraps `secret` for the current keys into object `key`; returns who it is wrapped for. */
export async function storeDataKey(repo: Repository, key: string, secret: string, keyring: Keyring, options: { retainUntil?: Date; ifAbsent?: boolean } = {}): Promise<KeyRef[]> {
  const refs = await currentKeyRefs(keyring, await repositorySalt(repo));
  const wrapped = await wrapSecret(secret, { ...(keyring.passphrase ? { passphrase: keyring.passphrase.value } : {}), recipients: keyring.recipients, ...(keyring.s2kCount ? { s2kCount: keyring.s2kCount } : {}) });
  await repo.putBytes(key, wrapped, {
    metadata: { [WRAPPED_FOR]: encodeKeyRefs(refs) },
    ...(options.retainUntil ? { retainUntil: options.retainUntil } : {}),
    ...(options.ifAbsent ? { ifAbsent: true } : {}),
  });
  return refs;
}

/** Reads and opens the data key in object `key`; `refs` (from a manifest) says which configured key to try first. */
export async function openDataKey(repo: Repository, key: string, opener: DataKeyOpener, refs?: KeyRef[]): Promise<string> {
  const stored = await repo.getBytesWithMetadata(key);
  if (!stored) {
    throw new PgwardenError('NotFound', `The data key ${key} is missing from repository "${repo.name}": without it the objects it encrypts cannot be opened. Restore it from another repository.`);
  }
  const recorded = refs ?? decodeKeyRefs(stored.metadata[WRAPPED_FOR]);
  return (await opener.open(stored.data, recorded, `data key ${key} in repository "${repo.name}"`)).secret;
}
