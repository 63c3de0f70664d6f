// pgwarden's gpg leaves no gpg-agent running behind it: sealing, opening and wrapping (symmetric and public-key)
// start none, and a private key's own GnuPG home has its agent stopped when the key is put away.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { newDataKey } from '../../activities/keys/data-key.js';
import { inspectKey, PrivateKeySession, unwrapWithPassphrase, wrapSecret } from '../../activities/keys/openpgp.js';
import { sealBuffer, unsealBuffer } from '../../activities/pipeline/seal.js';
import { makeKey } from '../harness/keys.js';

/** gpg-agent processes whose command line names a home under `base`. */
function agentsUnder(base: string): string[] {
  const found: string[] = [];
  for (const pid of readdirSync('/proc').filter((name) => /^\d+$/.test(name))) {
    try {
      const args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      if (args.some((a) => a.endsWith('gpg-agent')) && args.some((a) => a.startsWith(base))) found.push(`${pid}: ${args.join(' ')}`);
    } catch {
      // ended meanwhile
    }
  }
  return found;
}

test('sealing, opening and wrapping data keys leave no gpg-agent behind, in the shared GnuPG home or a private key\'s', async () => {
  const key = await makeKey('unit agents'); // the harness stops the agent of its own home
  const base = mkdtempSync(join(tmpdir(), 'pgwarden-test-agents-'));
  const saved = { home: process.env.PGWARDEN_GNUPGHOME, tmp: process.env.TMPDIR };
  process.env.PGWARDEN_GNUPGHOME = join(base, 'gnupg'); // the shared home, as the worker and the CLI use it
  process.env.TMPDIR = base; // where a private key's home is made
  try {
    const segment = Buffer.alloc(64 * 1024, 7);
    const dataKey = newDataKey();
    const byKey = await sealBuffer(segment, { compression: { level: 1, threads: 1 }, passphrase: dataKey, dataKey: true });
    assert.deepEqual(await unsealBuffer(byKey, dataKey, 'segment'), segment);
    // Before envelopes: sealed with a passphrase and gpg's default passphrase hashing.
    const byPassphrase = await sealBuffer(segment, { compression: { level: 1, threads: 1 }, passphrase: 'unit passphrase' });
    assert.deepEqual(await unsealBuffer(byPassphrase, 'unit passphrase', 'segment'), segment);

    const recipient = await inspectKey(readFileSync(key.publicFile, 'utf8'), 'unit public key');
    const wrapped = await wrapSecret(dataKey, { passphrase: 'unit passphrase', recipients: [recipient] });
    assert.equal(await unwrapWithPassphrase(wrapped, 'unit passphrase'), dataKey);
    const session = new PrivateKeySession(await inspectKey(readFileSync(key.privateFile, 'utf8'), 'unit private key'), undefined, 'unit');
    try {
      assert.equal(await session.unwrap(wrapped), dataKey);
    } finally {
      await session.close();
    }
    // `gpgconf --kill` asks the agent to go and returns; on a loaded machine it may take a moment to exit.
    let left = agentsUnder(base);
    for (let tries = 0; left.length > 0 && tries < 50; tries += 1) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      left = agentsUnder(base);
    }
    assert.deepEqual(left, [], 'no gpg-agent runs for a home that pgwarden used');
  } finally {
    for (const [name, value] of [['PGWARDEN_GNUPGHOME', saved.home], ['TMPDIR', saved.tmp]] as const) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
    // Should the test fail, it must not leave the agents it found behind either.
    for (const line of agentsUnder(base)) process.kill(Number(line.split(':')[0]), 'SIGTERM');
    rmSync(base, { recursive: true, force: true });
    rmSync(join(key.publicFile, '..'), { recursive: true, force: true });
  }
});
