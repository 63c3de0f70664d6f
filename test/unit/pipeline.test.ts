// The data path: seal (zstd, OpenPGP, sha256) into a repository and back; gpg alone can open it in an emergency.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, readdirSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { execa } from 'execa';
import { PgwardenError } from '../../domain/errors.js';
import { FsRepository } from '../../activities/storage/fs.js';
import { sealInto, unsealInto } from '../../activities/pipeline/seal.js';
import { keyFingerprint } from '../../activities/pipeline/encrypt.js';

const settings = { compression: { level: 1, threads: 1 }, passphrase: 'correct horse battery staple' };

/** Temporary directories of this file, removed when it ends. */
const made: string[] = [];
after(() => {
  for (const dir of made) rmSync(dir, { recursive: true, force: true });
});

function repository() {
  const path = mkdtempSync(join(tmpdir(), 'pgwarden-pipeline-'));
  made.push(path);
  return { path, repo: new FsRepository('unit', { type: 'fs', path }) };
}

/** Half random, half repetitive: compresses, but not to nothing. */
function sample(bytes: number): Buffer {
  const random = randomBytes(bytes / 2).toString('hex').slice(0, bytes / 2);
  return Buffer.from(random + 'pgwarden '.repeat(bytes / 18).slice(0, bytes / 2));
}


test('sealed bytes come back identical, smaller than the input, with size and sha256 recorded', async () => {
  const { repo } = repository();
  const input = sample(3 * 1024 * 1024);
  const sealed = await sealInto(repo, 'db/logical/b1/data.sql.zst.gpg', Readable.from([input]), settings);
  assert.ok(sealed.storedBytes < input.length, 'compressed');
  assert.match(sealed.sha256, /^[0-9a-f]{64}$/);
  assert.equal((await repo.head('db/logical/b1/data.sql.zst.gpg'))?.size, sealed.storedBytes);
  const out = await unsealInto(repo, { key: 'db/logical/b1/data.sql.zst.gpg', ...sealed }, settings.passphrase, [], { output: 'collect' });
  assert.ok(out.equals(input));
});

test('stock gpg and zstd open a sealed object without pgwarden (the emergency path)', async () => {
  const { repo, path } = repository();
  const input = sample(256 * 1024);
  await sealInto(repo, 'emergency.sql.zst.gpg', Readable.from([input]), settings);
  const home = mkdtempSync(join(tmpdir(), 'pgwarden-gnupg-'));
  made.push(home);
  const passFile = join(home, 'pass');
  writeFileSync(passFile, settings.passphrase);
  const decrypted = await execa('gpg', ['--homedir', home, '--batch', '--pinentry-mode', 'loopback', '--passphrase-file', passFile, '--decrypt', join(path, 'emergency.sql.zst.gpg')], {
    encoding: 'buffer',
  });
  const plain = await execa('zstd', ['-d', '-c'], { input: decrypted.stdout, encoding: 'buffer' });
  assert.ok(Buffer.from(plain.stdout).equals(input));
  await execa('gpgconf', ['--homedir', home, '--kill', 'gpg-agent'], { reject: false });
});

test('a flipped byte in a stored object fails as corrupt, naming the object', async () => {
  const { repo, path } = repository();
  const sealed = await sealInto(repo, 'x.zst.gpg', Readable.from([sample(512 * 1024)]), settings);
  const file = join(path, 'x.zst.gpg');
  const bytes = readFileSync(file);
  bytes[Math.floor(bytes.length / 2)]! ^= 0x40;
  writeFileSync(file, bytes);
  await assert.rejects(unsealInto(repo, { key: 'x.zst.gpg', ...sealed }, settings.passphrase, [], { output: 'collect' }), (error: unknown) => {
    assert.ok(error instanceof PgwardenError);
    assert.equal(error.kind, 'Integrity');
    assert.match(error.message, /x\.zst\.gpg in repository "unit" is corrupt/);
    return true;
  });
});

test('a truncated object fails as corrupt', async () => {
  const { repo, path } = repository();
  const sealed = await sealInto(repo, 't.zst.gpg', Readable.from([sample(512 * 1024)]), settings);
  const file = join(path, 't.zst.gpg');
  writeFileSync(file, readFileSync(file).subarray(0, 1000));
  await assert.rejects(unsealInto(repo, { key: 't.zst.gpg', ...sealed }, settings.passphrase, [], { output: 'collect' }), /corrupt/);
});

test('the wrong passphrase does not decrypt', async () => {
  const { repo } = repository();
  const sealed = await sealInto(repo, 'p.zst.gpg', Readable.from([sample(64 * 1024)]), settings);
  await assert.rejects(unsealInto(repo, { key: 'p.zst.gpg', ...sealed }, 'wrong', [], { output: 'collect' }), (error: unknown) => {
    assert.ok(error instanceof PgwardenError && error.kind === 'Integrity', String(error));
    assert.match(error.message, /Cannot decrypt p\.zst\.gpg: .*passphrase/);
    return true;
  });
});

test('a failing source leaves no object and no temp file behind', async () => {
  const { repo, path } = repository();
  const failing = new Readable({
    read() {
      this.push(sample(64 * 1024));
      this.destroy(new Error('pg_dump died'));
    },
  });
  await assert.rejects(sealInto(repo, 'gone/f.zst.gpg', failing, settings), /pg_dump died/);
  assert.equal(await repo.head('gone/f.zst.gpg'), undefined);
  assert.deepEqual(readdirSync(join(path, 'gone')), []);
});

test('key fingerprints identify a passphrase without revealing it', async () => {
  const a = await keyFingerprint('one');
  assert.equal(a, await keyFingerprint('one'));
  assert.notEqual(a, await keyFingerprint('two'));
  assert.doesNotMatch(a, /one/);
});
