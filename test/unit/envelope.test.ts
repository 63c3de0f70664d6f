// Envelope encryption's pieces with gpg itself: wrapping a data key for a passphrase and public keys, opening it
// with either, the per-object S2K, and salted passphrase fingerprints.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { passphraseFingerprint, passphraseMatches } from '../../activities/keys/fingerprint.js';
import { newDataKey } from '../../activities/keys/data-key.js';
import { inspectKey, PrivateKeySession, unwrapWithPassphrase, wrapSecret } from '../../activities/keys/openpgp.js';
import { encryptStep } from '../../activities/pipeline/encrypt.js';
import { makeKey } from '../harness/keys.js';

test('a data key wrapped for a passphrase and a public key opens with either, with pgwarden and with stock gpg', async () => {
  const key = await makeKey('unit ops');
  const secret = newDataKey();
  const recipient = await inspectKey(readFileSync(key.publicFile, 'utf8'), 'unit public key');
  assert.equal(recipient.fingerprint, key.fingerprint);
  assert.equal(recipient.secret, false);
  const wrapped = await wrapSecret(secret, { passphrase: 'unit passphrase', recipients: [recipient] });
  assert.match(wrapped.toString(), /^-----BEGIN PGP MESSAGE-----/);

  assert.equal(await unwrapWithPassphrase(wrapped, 'unit passphrase'), secret);
  assert.equal(await unwrapWithPassphrase(wrapped, 'not it'), undefined);
  const session = new PrivateKeySession(await inspectKey(readFileSync(key.privateFile, 'utf8'), 'unit private key'), undefined, 'unit');
  try {
    assert.equal(await session.unwrap(wrapped), secret);
  } finally {
    await session.close();
  }

  // Stock gpg, as README's emergency steps run it: the passphrase, or the imported private key.
  const home = mkdtempSync(join(tmpdir(), 'pgwarden-unit-gnupg-'));
  const file = join(home, 'datakey.asc');
  writeFileSync(file, wrapped);
  try {
    const byPassphrase = await execa('bash', ['-c', `gpg --homedir ${home} --batch --quiet --pinentry-mode loopback --passphrase-fd 3 -d ${file} 3<<<"unit passphrase"`]);
    assert.equal(byPassphrase.stdout.trim(), secret);
    await execa('gpg', ['--homedir', home, '--batch', '--quiet', '--import', key.privateFile]);
    const byKey = await execa('gpg', ['--homedir', home, '--batch', '--quiet', '-d', file]);
    assert.equal(byKey.stdout.trim(), secret);
  } finally {
    await execa('gpgconf', ['--homedir', home, '--kill', 'gpg-agent'], { reject: false });
  }
});

test('objects under a data key get the salted S2K (no stretching); passphrases keep the iterated one', () => {
  const data = encryptStep(newDataKey(), 'data-key').args.join(' ');
  assert.match(data, /--s2k-mode 1/);
  assert.doesNotMatch(data, /--s2k-count/);
  // gpg reads a count of 1024 or less as "its default" (65011712): the smallest honoured one is 1025.
  assert.match(encryptStep('pass', 1024).args.join(' '), /--s2k-mode 3 --s2k-count 1025/);
  // No count configured: gpg's default, given explicitly (left to gpg, it would start an agent to calibrate one).
  assert.match(encryptStep('pass').args.join(' '), /--s2k-mode 3 --s2k-count 65011712/);
});

test('passphrase fingerprints are salted: the same passphrase differs between repositories, and matches its own', async () => {
  const a = await passphraseFingerprint('same passphrase', '0'.repeat(32));
  const b = await passphraseFingerprint('same passphrase', 'f'.repeat(32));
  assert.notEqual(a, b);
  assert.match(a, /^scrypt:0{32}:[0-9a-f]{16}$/);
  assert.equal(await passphraseMatches('same passphrase', b), true);
  assert.equal(await passphraseMatches('another', b), false);
  assert.doesNotMatch(a, /same passphrase/);
});
