// OpenPGP symmetric encryption (AES-256) with GnuPG itself, as steps of a process chain: what pgwarden writes is
// by construction what `gpg --decrypt` reads, the emergency path when pgwarden is unavailable.
import { scrypt } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { promisify } from 'node:util';
import { PgwardenError } from '../../domain/errors.js';
import { privateDirectory } from '../storage/private-directory.js';
import { defaultStateDirectory } from '../storage/state-directory.js';
import type { Step } from './chain.js';

/** Envelope encryption: objects encrypted with a random data key, itself wrapped for the configured keys. */
export const ENVELOPE_SCHEME = 'openpgp-envelope-v1';

const scryptAsync = promisify(scrypt) as (password: string, salt: string, keylen: number, options: object) => Promise<Buffer>;

/**
 * Identifies a passphrase without revealing it: scrypt makes guessing from the fingerprint as slow as
 * guessing from the ciphertext. A restore compares it first, so a wrong passphrase fails before any work.
 */
export async function keyFingerprint(passphrase: string): Promise<string> {
  const key = await scryptAsync(passphrase, 'pgwarden key fingerprint v1', 8, { N: 2 ** 15, r: 8, p: 1, maxmem: 64 * 1024 * 1024 });
  return `scrypt:${key.toString('hex')}`;
}

/**
 * A GnuPG home of our own (gpg insists on one): no keys live there, only the agent's socket. It must be a private
 * directory of this user: gpg talks to whatever agent socket it finds there, and a planted one would hear the
 * passphrase.
 */
export function gnupgHome(): string {
  // Default ~/.pgwarden/gnupg: a fixed name in the shared temp directory could be made first by another user.
  const home = process.env.PGWARDEN_GNUPGHOME ?? defaultStateDirectory('gnupg');
  try {
    mkdirSync(dirname(home), { recursive: true });
    return privateDirectory(home, 'The GnuPG home', 'or set PGWARDEN_GNUPGHOME to a directory of your own');
  } catch (error) {
    if (error instanceof PgwardenError) throw error;
    // Said as a problem of this host: raw, it would pass for a broken object wherever decryption fails.
    throw new PgwardenError(
      'Failed',
      `The GnuPG home ${home} cannot be made (${(error as Error).message}): a problem of this host, not of any backup or archive. ` +
        'Make its parent a directory this user can write, or set PGWARDEN_GNUPGHOME to a directory of your own.',
      { cause: error },
    );
  }
}

function gpgArgs(): string[] {
  // The passphrase comes on fd 3, never on the command line; --no-symkey-cache keeps it out of the agent;
  // --no-options: no gpg.conf is read, whatever the home holds. --no-autostart: no gpg-agent, which would outlive
  // the process (nothing here needs one: no private key, and the S2K count is always given, see encryptStep).
  return ['--homedir', gnupgHome(), '--no-options', '--batch', '--quiet', '--no-tty', '--no-autostart', '--pinentry-mode', 'loopback', '--passphrase-fd', '3', '--no-symkey-cache'];
}

/**
 * gpg's default passphrase hashing, given explicitly: without a count gpg asks gpg-agent to calibrate one (starting
 * an agent that outlives us), and on any current CPU the calibration reaches this, the largest count there is.
 */
export const GPG_DEFAULT_S2K_COUNT = 65011712;

/**
 * `s2k` says what the secret is. A data key (256 random bits) needs no key stretching: gpg's salted S2K (one
 * SHA-256, which RFC 9580 allows for high-entropy strings) instead of the iterated one that costs about 0.1 s of
 * CPU per object; stock `gpg --decrypt` reads either. A passphrase keeps the iterated S2K (gpg counts <= 1024 as
 * "its default", so the smallest count that means itself is 1025).
 */
export function encryptStep(passphrase: string, s2k?: number | 'data-key'): Step {
  const stretch = s2k === 'data-key' ? ['--s2k-mode', '1'] : ['--s2k-mode', '3', '--s2k-count', String(Math.max(1025, s2k ?? GPG_DEFAULT_S2K_COUNT))];
  return {
    command: 'gpg',
    // The input is zstd already: gpg's own compression would cost CPU and gain nothing.
    args: [
      ...gpgArgs(),
      '--symmetric',
      '--cipher-algo',
      'AES256',
      '--s2k-digest-algo',
      'SHA256',
      ...stretch,
      '--compress-algo',
      'none',
      '--output',
      '-',
    ],
    fd3: passphrase,
    label: 'gpg (encrypt)',
  };
}

export function decryptStep(passphrase: string, objectName: string): Step {
  return {
    command: 'gpg',
    args: [...gpgArgs(), '--decrypt', '--output', '-'],
    fd3: passphrase,
    label: 'gpg (decrypt)',
    explain: (stderr) =>
      new PgwardenError(
        'Integrity',
        `Cannot decrypt ${objectName}: ${stderr.split('\n').filter(Boolean).slice(-2).join('; ') || 'gpg failed'}. ` +
          'Either the key (data key or passphrase) is not the one this backup was made with, or the object is damaged.',
      ),
  };
}
