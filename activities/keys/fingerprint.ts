// Passphrase fingerprints: a restore compares them before any work, so the wrong passphrase fails in seconds.
// Each repository has a random salt of its own (repository.json at its root), so one precomputed dictionary does
// not fit every installation; the salt is written into each fingerprint too, so a backup copied to another
// repository is still checked against its own.
import { oncePer } from '../once.js';
import { randomBytes, scrypt } from 'node:crypto';
import { promisify } from 'node:util';
import { PgwardenError } from '../../domain/errors.js';
import type { Repository } from '../storage/repository.js';

/** At the repository's root (its prefix): facts about the repository itself. */
export const REPOSITORY_FILE = 'repository.json';

interface RepositoryFile {
  format: 'pgwarden-repository-v1';
  /** hex; salts the passphrase fingerprints of new backups. */
  fingerprintSalt: string;
  createdAt: string;
}

const scryptAsync = promisify(scrypt) as (password: string, salt: string, keylen: number, options: object) => Promise<Buffer>;
const SCRYPT = { N: 2 ** 15, r: 8, p: 1, maxmem: 64 * 1024 * 1024 };

/** The repository's fingerprint salt, created (once, whoever comes first) when it has none. */
export const repositorySalt: (repo: Repository) => Promise<string> = oncePer(readOrCreateSalt, new WeakMap<Repository, Promise<string>>());

async function readOrCreateSalt(repo: Repository): Promise<string> {
  const read = async () => {
    const bytes = await repo.getBytes(REPOSITORY_FILE);
    if (!bytes) return undefined;
    const file = JSON.parse(bytes.toString('utf8')) as Partial<RepositoryFile>;
    if (typeof file.fingerprintSalt !== 'string' || !/^[0-9a-f]{32}$/.test(file.fingerprintSalt)) {
      throw new PgwardenError('Integrity', `${REPOSITORY_FILE} in repository "${repo.name}" has no valid fingerprintSalt: restore it from a copy, or move it away to start a new salt.`);
    }
    return file.fingerprintSalt;
  };
  const existing = await read();
  if (existing) return existing;
  const fresh: RepositoryFile = { format: 'pgwarden-repository-v1', fingerprintSalt: randomBytes(16).toString('hex'), createdAt: new Date().toISOString() };
  await repo.putBytes(REPOSITORY_FILE, Buffer.from(`${JSON.stringify(fresh, null, 2)}\n`), { ifAbsent: true });
  return (await read()) ?? fresh.fingerprintSalt; // another writer may have been first: theirs counts
}

const computed = new Map<string, Promise<string>>();

/** "scrypt:<salt>:<hash>": identifies a passphrase without revealing it (as slow to guess from as the data). */
export function passphraseFingerprint(passphrase: string, salt: string): Promise<string> {
  const cacheKey = `${salt}\u0000${passphrase}`;
  let fingerprint = computed.get(cacheKey);
  if (!fingerprint) {
    fingerprint = scryptAsync(passphrase, `pgwarden key fingerprint v2 ${salt}`, 8, SCRYPT).then((key) => `scrypt:${salt}:${key.toString('hex')}`);
    computed.set(cacheKey, fingerprint);
  }
  return fingerprint;
}

/** Whether `passphrase` is the one `fingerprint` (from a manifest or data key) was made of. */
export async function passphraseMatches(passphrase: string, fingerprint: string): Promise<boolean> {
  const salt = /^scrypt:([0-9a-f]{32}):[0-9a-f]+$/.exec(fingerprint)?.[1];
  if (!salt) return false;
  return (await passphraseFingerprint(passphrase, salt)) === fingerprint;
}
