// OpenPGP key pairs for tests, made by gpg in a throw-away home: armored public and private key files.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';

export interface TestKey {
  fingerprint: string;
  publicFile: string;
  privateFile: string;
  passphrase?: string;
}

/** A new key pair (ed25519 + cv25519 encryption subkey), protected by `passphrase` if one is given. */
export async function makeKey(name: string, passphrase?: string): Promise<TestKey> {
  const home = mkdtempSync(join(tmpdir(), 'pgwarden-test-keys-'));
  const out = mkdtempSync(join(tmpdir(), 'pgwarden-test-key-files-'));
  try {
    const gpg = (args: string[], input?: string) => execa('gpg', ['--homedir', home, '--batch', '--quiet', '--pinentry-mode', 'loopback', '--passphrase', passphrase ?? '', ...args], { ...(input ? { input } : {}) });
    const spec = [
      ...(passphrase ? [] : ['%no-protection']),
      'Key-Type: EdDSA',
      'Key-Curve: ed25519',
      'Key-Usage: sign',
      'Subkey-Type: ECDH',
      'Subkey-Curve: cv25519',
      'Subkey-Usage: encrypt',
      `Name-Real: ${name}`,
      'Expire-Date: 0',
      ...(passphrase ? [`Passphrase: ${passphrase}`] : []),
      '%commit',
    ].join('\n');
    await gpg(['--generate-key'], spec);
    const listing = await gpg(['--with-colons', '--list-keys', name]);
    const fingerprint = /^fpr:{9}([0-9A-F]{40}):/m.exec(listing.stdout)![1]!;
    const publicFile = join(out, `${name.replace(/\W+/g, '-')}.pub.asc`);
    const privateFile = join(out, `${name.replace(/\W+/g, '-')}.sec.asc`);
    writeFileSync(publicFile, (await gpg(['--armor', '--export', fingerprint])).stdout);
    writeFileSync(privateFile, (await gpg(['--armor', '--export-secret-keys', fingerprint])).stdout, { mode: 0o600 });
    return { fingerprint, publicFile, privateFile, ...(passphrase ? { passphrase } : {}) };
  } finally {
    await execa('gpgconf', ['--homedir', home, '--kill', 'gpg-agent'], { reject: false });
    rmSync(home, { recursive: true, force: true });
  }
}
