// The data path: seal (zstd, OpenPGP, sha256) into a repository and back; gpg alone can open it in an emergency.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import fs, { mkdtempSync, readFileSync, rmSync, writeFileSync, readdirSync } from 'node:fs';
import { createHash, randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { execa } from 'execa';
import { PgwardenError } from '../../domain/errors.js';
import { FsRepository } from '../../activities/storage/fs.js';
import { checkStored, sealInto, unsealInto } from '../../activities/pipeline/seal.js';
import { FilterGroup, rawSize, rawSizeStep, reported, tableRows } from '../../activities/pipeline/filters.js';
import { encryptStep, keyFingerprint } from '../../activities/pipeline/encrypt.js';
import { chain } from '../../activities/pipeline/chain.js';

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

test('a filter group reads back by name what each filter measured, on the way in and on the way out', async () => {
  const { repo } = repository();
  const dump = Buffer.from('SET x = 1;\nCOPY public.a (id) FROM stdin;\n1\n2\n3\n\\.\n\nCOPY public.b (id) FROM stdin;\n7\n\\.\n' + 'x'.repeat(200_000) + '\n');
  const sealing = new FilterGroup().add(rawSize(), tableRows());
  assert.throws(() => sealing.result('raw-size'), /before the path ended/);
  const sealed = await sealInto(repo, 'db/f.zst.gpg', Readable.from([dump]), settings, { filters: sealing });
  assert.equal(sealing.result('raw-size'), dump.length);
  assert.deepEqual([...sealing.result('table-rows')], [['public.a', 3], ['public.b', 1]]);
  assert.equal(sealing.result('sha256'), sealed.sha256);
  assert.equal(sealing.result('sha256'), createHash('sha256').update(await readAll(repo, 'db/f.zst.gpg')).digest('hex'));
  assert.equal(sealing.result('stored-size'), (await repo.head('db/f.zst.gpg'))?.size);
  assert.ok(sealing.firstByteAt() !== undefined);
  assert.throws(() => sealing.result('copy-rows'), /No filter of this data path measures copy-rows/);
  await assert.rejects(sealInto(repo, 'db/again.zst.gpg', Readable.from([dump]), settings, { filters: sealing }), /one group per object/);
  assert.equal(await repo.head('db/again.zst.gpg'), undefined);

  // The same plain size counted by dd between processes, after decryption and decompression.
  const unsealing = new FilterGroup().add(rawSizeStep());
  await unsealInto(repo, { key: 'db/f.zst.gpg', ...sealed }, settings.passphrase, [], { filters: unsealing, output: 'ignore' });
  assert.equal(unsealing.result('raw-size'), dump.length);
  assert.equal(unsealing.result('stored-size'), sealed.storedBytes);

  // Only the stored bytes, without the key.
  const checking = new FilterGroup();
  await checkStored(repo, { key: 'db/f.zst.gpg', ...sealed }, { filters: checking });
  assert.equal(checking.result('sha256'), sealed.sha256);
  await assert.rejects(checkStored(repo, { key: 'db/f.zst.gpg', ...sealed, storedBytes: sealed.storedBytes + 1 }), /is corrupt/);
});

test('a filter group: one measurer per name, and a producer\'s missing row counts fail when read', () => {
  assert.throws(() => new FilterGroup().add(rawSize(), rawSizeStep()), /both measure raw-size/);
  const group = new FilterGroup().add(reported({ bytes: 42 }, 'data-1'));
  assert.equal(group.bytes('raw-size'), 42);
  assert.equal(group.bytes('stored-size'), 0);
  group.close();
  assert.throws(() => group.result('copy-rows'), /did not report how many rows it copied for data-1/);
  assert.throws(() => group.add(rawSize()), /already ended/);
});

test('a failed seal leaves its group unended: nothing is read back from a path that did not end whole', async () => {
  const { repo } = repository();
  const failing = new Readable({ read() { this.destroy(new Error('pg_dump died')); } });
  const group = new FilterGroup().add(rawSize());
  await assert.rejects(sealInto(repo, 'gone/g.zst.gpg', failing, settings, { filters: group }), /pg_dump died/);
  assert.equal(group.ended, false);
  assert.throws(() => group.result('sha256'), /before the path ended/);
});

async function readAll(repo: FsRepository, key: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of await repo.get(key)) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

test('stock gpg and zstd open a sealed object without pgwarden (the emergency path)', async () => {
  const { repo, path } = repository();
  // Chosen so that its zstd frame ends with a newline byte (the last byte of the frame's content checksum): a tool
  // that strips a final newline from binary output (execa does by default) would hand zstd a stream one byte short.
  const input = Buffer.from('pgwarden emergency path 40\n'.repeat(8000));
  await sealInto(repo, 'emergency.sql.zst.gpg', Readable.from([input]), settings);
  const home = mkdtempSync(join(tmpdir(), 'pgwarden-gnupg-'));
  made.push(home);
  const passFile = join(home, 'pass');
  writeFileSync(passFile, settings.passphrase);
  try {
    const decrypted = await execa('gpg', ['--homedir', home, '--batch', '--pinentry-mode', 'loopback', '--passphrase-file', passFile, '--decrypt', join(path, 'emergency.sql.zst.gpg')], {
      encoding: 'buffer',
      stripFinalNewline: false,
    });
    assert.equal(decrypted.stdout.at(-1), 0x0a, 'the zstd frame ends with a newline byte, kept');
    const plain = await execa('zstd', ['-d', '-c'], { input: decrypted.stdout, encoding: 'buffer', stripFinalNewline: false });
    assert.ok(Buffer.from(plain.stdout).equals(input));
  } finally {
    await execa('gpgconf', ['--homedir', home, '--kill', 'gpg-agent'], { reject: false });
  }
});

test('an object whose zstd stream was cut short inside whole encryption fails as damaged when opened', async () => {
  const { repo } = repository();
  const compressed = Buffer.from((await execa('zstd', ['-q', '-c', '-1'], { input: sample(256 * 1024), encoding: 'buffer', stripFinalNewline: false })).stdout);
  // Encrypted whole after the cut: gpg finds nothing wrong, the stored sha256 matches; only zstd can tell.
  const encoder = chain([encryptStep(settings.passphrase)], { stdout: 'pipe' });
  const chunks: Buffer[] = [];
  encoder.stdout!.on('data', (chunk: Buffer) => chunks.push(chunk));
  const ended = new Promise((resolve) => encoder.stdout!.once('end', resolve));
  encoder.stdin.end(compressed.subarray(0, compressed.length - 100));
  await Promise.all([encoder.done, ended]);
  const stored = Buffer.concat(chunks);
  await repo.putBytes('cut.zst.gpg', stored);
  const object = { key: 'cut.zst.gpg', sha256: createHash('sha256').update(stored).digest('hex'), storedBytes: stored.length };
  await assert.rejects(unsealInto(repo, object, settings.passphrase, [], { output: 'collect' }), (error: unknown) => {
    assert.ok(error instanceof PgwardenError, String(error));
    assert.equal(error.kind, 'Integrity', error.message);
    assert.match(error.message, /cut\.zst\.gpg does not decompress .*premature end.*: the object is damaged/);
    return true;
  });
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

test('a failing source leaves no temp file behind, also where creating the file is slow', async (t) => {
  const { repo, path } = repository();
  // The temp file's open is held back, as libuv's thread pool does on a loaded machine: the source fails while the
  // file does not exist yet. Nothing may create it after the write has given up.
  let opened: Promise<void> = Promise.resolve();
  const open = fs.open;
  t.mock.method(fs, 'open', (...args: Parameters<typeof fs.open>) => {
    if (!String(args[0]).includes('.pgwarden-partial-')) return open(...args);
    opened = new Promise<void>((resolve) => setTimeout(() => {
      const callback = args.at(-1) as (error: NodeJS.ErrnoException | null, fd: number) => void;
      open(...(args.slice(0, -1) as [string, string, number]), (error: NodeJS.ErrnoException | null, fd: number) => {
        callback(error, fd);
        resolve();
      });
    }, 300));
  });
  const failing = new Readable({
    read() {
      this.push(sample(64 * 1024));
      this.destroy(new Error('pg_dump died'));
    },
  });
  await assert.rejects(sealInto(repo, 'slow/f.zst.gpg', failing, settings), /pg_dump died/);
  await opened;
  t.mock.restoreAll();
  assert.deepEqual(readdirSync(join(path, 'slow')), []);
});

test('key fingerprints identify a passphrase without revealing it', async () => {
  const a = await keyFingerprint('one');
  assert.equal(a, await keyFingerprint('one'));
  assert.notEqual(a, await keyFingerprint('two'));
  assert.doesNotMatch(a, /one/);
});
