// OpenPGP symmetric encryption filters (RFC 4880: SKESK v4 + SEIPD v1 with MDC, AES-256).
// The output is what `gpg --batch --passphrase-file F --decrypt` reads: the emergency path needs no pgwarden.
import { scrypt } from 'node:crypto';
import { Duplex, PassThrough, Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import * as openpgp from 'openpgp';
import { PgwardenError } from '../../config/errors.js';

export const ENCRYPTION_SCHEME = 'openpgp-symmetric-aes256';

const scryptAsync = promisify(scrypt) as (password: string, salt: string, keylen: number, options: object) => Promise<Buffer>;

/**
 * Identifies a passphrase without revealing it: scrypt makes guessing from the fingerprint as slow as
 * guessing from the ciphertext. A restore compares it first, so a wrong passphrase fails before any work.
 */
export async function keyFingerprint(passphrase: string): Promise<string> {
  const key = await scryptAsync(passphrase, 'pgwarden key fingerprint v1', 8, { N: 2 ** 15, r: 8, p: 1, maxmem: 64 * 1024 * 1024 });
  return `scrypt:${key.toString('hex')}`;
}

const config = {
  preferredSymmetricAlgorithm: openpgp.enums.symmetric.aes256,
  // The input is zstd already: a second compression costs CPU and gains nothing.
  preferredCompressionAlgorithm: openpgp.enums.compression.uncompressed,
  aeadProtect: false, // SEIPD v1: gpg 2.2 (Debian 12) cannot read the v2 AEAD packets
};

/** Joins a writable side to a readable side filled by `run`; an error in either ends both. */
function filter(run: (input: Readable, output: PassThrough) => Promise<void>): Duplex {
  const input = new PassThrough();
  const output = new PassThrough();
  const duplex = Duplex.from({ writable: input, readable: output });
  run(input, output).catch((error: unknown) => {
    duplex.destroy(error as Error); // first: destroying `input` alone would surface as "premature close"
    input.destroy();
  });
  return duplex;
}

export function encryptStream(passphrase: string): Duplex {
  return filter(async (input, output) => {
    const message = await openpgp.createMessage({ binary: Readable.toWeb(input) as ReadableStream<Uint8Array>, format: 'binary' });
    const encrypted = await openpgp.encrypt({ message, passwords: [passphrase], format: 'binary', config });
    await pipeline(Readable.fromWeb(encrypted as import('node:stream/web').ReadableStream<Uint8Array>), output);
  });
}

/**
 * Decrypts as the data arrives. The integrity code (MDC) can only be checked at the end: callers must treat
 * the plaintext as unverified until the stream ended without error (restores do: they publish nothing before).
 */
export function decryptStream(passphrase: string, objectName: string): Duplex {
  return filter(async (input, output) => {
    try {
      const message = await openpgp.readMessage({ binaryMessage: Readable.toWeb(input) as ReadableStream<Uint8Array> });
      const { data } = await openpgp.decrypt({
        message,
        passwords: [passphrase],
        format: 'binary',
        config: { allowUnauthenticatedStream: true },
      });
      await pipeline(Readable.fromWeb(data as import('node:stream/web').ReadableStream<Uint8Array>), output);
    } catch (error) {
      if (error instanceof PgwardenError) throw error;
      const text = ((error as Error).message ?? String(error)).replace(/\.$/, '');
      throw new PgwardenError(
        'Integrity',
        `Cannot decrypt ${objectName}: ${text}. Either the passphrase is not the one this backup was made with, or the object is damaged.`,
        { cause: error },
      );
    }
  });
}
