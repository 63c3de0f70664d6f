// The OpenPGP side of envelope encryption, done by gpg itself: read public and private keys, wrap a data key for
// a passphrase and/or public keys, and open a wrapped data key again. What is written is what stock
// `gpg --decrypt` opens, with the passphrase or with the private key, in an emergency.
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { PgwardenError } from '../../domain/errors.js';
import { chain } from '../pipeline/chain.js';
import { GPG_DEFAULT_S2K_COUNT, gnupgHome } from '../pipeline/encrypt.js';
import { processScratchDirectory } from '../storage/scratch.js';

export interface OpenPgpKey {
  /** Fingerprint of the primary key: what people and the manifest call the key. */
  fingerprint: string;
  /** The primary key's and every subkey's fingerprint (data keys are wrapped for an encryption subkey). */
  fingerprints: string[];
  userId?: string;
  secret: boolean;
  armored: string;
}

/** Runs gpg on a small input; `fd3` carries a passphrase (never the command line). */
async function gpg(args: string[], options: { home?: string; input?: string | Buffer; fd3?: string; label: string; quiet?: boolean }): Promise<{ ok: boolean; stdout: Buffer; stderr: string }> {
  const run = chain(
    [
      {
        command: 'gpg',
        // Without a private key gpg needs no agent: none is started in the shared home (it would outlive us). A
        // private key's own home needs one, which PrivateKeySession.close() stops.
        args: ['--homedir', options.home ?? gnupgHome(), '--batch', ...(options.quiet === false ? [] : ['--quiet']), '--no-tty', ...(options.home ? [] : ['--no-autostart']), ...(options.fd3 !== undefined ? ['--pinentry-mode', 'loopback', '--passphrase-fd', '3', '--no-symkey-cache'] : []), ...args],
        ...(options.fd3 !== undefined ? { fd3: options.fd3 } : {}),
        label: options.label,
        explain: (stderr) => new PgwardenError('Failed', stderr),
      },
    ],
    { stdout: 'pipe' },
  );
  const chunks: Buffer[] = [];
  run.stdout!.on('data', (chunk: Buffer) => chunks.push(chunk));
  const ended = new Promise<void>((resolve) => run.stdout!.once('close', resolve));
  run.stdin.end(options.input ?? '');
  try {
    await Promise.all([run.done, ended]);
    return { ok: true, stdout: Buffer.concat(chunks), stderr: '' };
  } catch (error) {
    if (error instanceof PgwardenError && error.kind === 'Config') throw error; // gpg is not installed
    return { ok: false, stdout: Buffer.alloc(0), stderr: (error as Error).message };
  }
}

/** Reads an armored key (public or private) without importing it anywhere. */
export async function inspectKey(armored: string, source: string): Promise<OpenPgpKey> {
  const shown = await gpg(['--with-colons', '--with-subkey-fingerprints', '--show-keys'], { input: armored, label: 'gpg (show key)' });
  const lines = shown.stdout.toString('utf8').split('\n').map((line) => line.split(':'));
  const primary = lines.findIndex((f) => f[0] === 'pub' || f[0] === 'sec');
  if (!shown.ok || primary < 0) {
    throw new PgwardenError('Config', `${source} does not hold an armored OpenPGP key (gpg: ${shown.stderr.split('\n').filter(Boolean).pop() ?? 'no key found'}): export it with gpg --armor --export${source.includes('private') ? '-secret-keys' : ''} KEYID.`);
  }
  if (lines.filter((f) => f[0] === 'pub' || f[0] === 'sec').length > 1) {
    throw new PgwardenError('Config', `${source} holds more than one key: give each key its own entry.`);
  }
  const fingerprints = lines.filter((f) => f[0] === 'fpr').map((f) => f[9]!).filter(Boolean);
  const userId = lines.find((f) => f[0] === 'uid')?.[9]?.replace(/\\x3a/g, ':');
  return { fingerprint: fingerprints[0]!, fingerprints, ...(userId ? { userId } : {}), secret: lines[primary]![0] === 'sec', armored };
}

/**
 * Encrypts `secret` (a data key) so that the passphrase or any one of the recipients' private keys opens it:
 * one OpenPGP message with a symmetric and a public-key session key packet each. Armored: small, and it can be
 * read, copied and pasted.
 */
export async function wrapSecret(secret: string, to: { passphrase?: string; recipients: OpenPgpKey[]; s2kCount?: number }): Promise<Buffer> {
  const dir = mkdtempSync(join(tmpdir(), 'pgwarden-recipients-'));
  try {
    const recipientArgs = to.recipients.flatMap((key, i) => {
      const file = join(dir, `${i}.asc`);
      writeFileSync(file, key.armored, { mode: 0o600 });
      return ['--recipient-file', file];
    });
    const symmetric = to.passphrase !== undefined ? ['--symmetric', '--s2k-digest-algo', 'SHA256', '--s2k-mode', '3', '--s2k-count', String(Math.max(1025, to.s2kCount ?? GPG_DEFAULT_S2K_COUNT))] : [];
    const wrapped = await gpg(
      [...symmetric, ...(to.recipients.length ? ['--encrypt', ...recipientArgs] : []), '--cipher-algo', 'AES256', '--compress-algo', 'none', '--armor', '--output', '-'],
      { input: `${secret}\n`, ...(to.passphrase !== undefined ? { fd3: to.passphrase } : {}), label: 'gpg (wrap data key)' },
    );
    if (!wrapped.ok) throw new PgwardenError('Failed', `gpg could not wrap a data key: ${wrapped.stderr}`);
    return wrapped.stdout;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Opens a wrapped data key with a passphrase; undefined when the passphrase is not one it was wrapped for. */
export async function unwrapWithPassphrase(wrapped: Buffer, passphrase: string): Promise<string | undefined> {
  const opened = await gpg(['--decrypt', '--output', '-'], { input: wrapped, fd3: passphrase, label: 'gpg (open data key)' });
  return opened.ok ? dataKeyText(opened.stdout) : undefined;
}

function dataKeyText(plain: Buffer): string | undefined {
  const text = plain.toString('utf8').trim();
  return /^[0-9a-f]{64}$/.test(text) ? text : undefined;
}

/**
 * A private key imported into a GnuPG home of its own, for as long as it is needed: gpg can only use a private
 * key through its agent and keyring. close() stops the agent and removes the home (and the key with it).
 */
export class PrivateKeySession {
  private readonly home: string;
  private imported: Promise<void> | undefined;

  constructor(
    readonly key: OpenPgpKey,
    private readonly passphrase: string | undefined,
    private readonly source: string,
  ) {
    // Named after this process: should it be killed before close(), the next session on this host stops the
    // agent and removes the home, with the imported key.
    this.home = processScratchDirectory('pgwarden-private-key-', tmpdir(), (home) => {
      try {
        execFileSync('gpgconf', ['--homedir', home, '--kill', 'gpg-agent'], { stdio: 'ignore', timeout: 10_000 });
      } catch {
        // no agent there, or gpgconf missing: the home goes all the same
      }
    });
  }

  private importKey(): Promise<void> {
    this.imported ??= gpg(['--import'], { home: this.home, input: this.key.armored, label: 'gpg (import private key)' }).then((result) => {
      if (!result.ok) throw new PgwardenError('Config', `gpg refused the private key in ${this.source}: ${result.stderr}`);
    });
    return this.imported;
  }

  /** The data key, or undefined when it is not wrapped for this key; a wrong passphrase of the key fails. */
  async unwrap(wrapped: Buffer): Promise<string | undefined> {
    await this.importKey();
    const opened = await gpg(['--try-secret-key', this.key.fingerprint, '--decrypt', '--output', '-'], {
      home: this.home,
      input: wrapped,
      fd3: this.passphrase ?? '',
      label: 'gpg (open data key)',
      quiet: false, // "Bad passphrase" is only said without --quiet
    });
    if (opened.ok) return dataKeyText(opened.stdout);
    if (/Bad passphrase/i.test(opened.stderr)) {
      throw new PgwardenError(
        'Integrity',
        `The private key in ${this.source} (${this.key.fingerprint}) would open this data key, but its passphrase is wrong or missing: ` +
          'set passphraseEnv or passphraseFile of that key to the passphrase that protects it.',
      );
    }
    return undefined;
  }

  async close(): Promise<void> {
    await promisify(execFile)('gpgconf', ['--homedir', this.home, '--kill', 'gpg-agent']).catch(() => undefined);
    rmSync(this.home, { recursive: true, force: true });
  }
}
