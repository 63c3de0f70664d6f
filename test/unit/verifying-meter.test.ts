import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { VerifyingMeter } from '../../activities/pipeline/measure.js';

/** 300 pieces of 4 KiB, as a server that sends small TLS records delivers a download. */
const PIECES = Array.from({ length: 300 }, () => randomBytes(4096));
const WHOLE = Buffer.concat(PIECES);
const expected = { sha256: createHash('sha256').update(WHOLE).digest('hex'), storedBytes: WHOLE.length };

async function through(meter: VerifyingMeter, pieces: Buffer[]): Promise<{ out: Buffer[]; error?: Error }> {
  const out: Buffer[] = [];
  const sink = new Writable({ write: (chunk: Buffer, _e, done) => (out.push(chunk), done()) });
  try {
    await pipeline(Readable.from(pieces), meter, sink);
    return { out };
  } catch (error) {
    return { out, error: error as Error };
  }
}

test('a download in 4 KiB pieces goes on in pieces of at least 64 KiB (the last may be smaller), every byte in order', async () => {
  const meter = new VerifyingMeter(expected, () => new Error('corrupt'), 64 * 1024);
  const { out, error } = await through(meter, PIECES);
  assert.equal(error, undefined);
  assert.ok(Buffer.concat(out).equals(WHOLE));
  assert.ok(out.slice(0, -1).every((chunk) => chunk.length >= 64 * 1024), `sizes: ${out.map((c) => c.length).join(', ')}`);
  assert.equal(out.length, Math.ceil(WHOLE.length / (64 * 1024)));
  assert.equal(meter.bytes, WHOLE.length);
  assert.equal(meter.sha256, expected.sha256);
});

test('a corrupt object fails at its end, and the bytes held back are not passed on', async () => {
  const damaged = PIECES.map((p, i) => (i === 10 ? Buffer.from(p).fill(0, 0, 1) : p));
  const { out, error } = await through(new VerifyingMeter(expected, () => new Error('corrupt object'), 64 * 1024), damaged);
  assert.match(String(error), /corrupt object/);
  assert.ok(Buffer.concat(out).length < WHOLE.length, 'the tail never reached the consumer');
});

test('without coalescing, pieces pass as they come', async () => {
  const { out, error } = await through(new VerifyingMeter(expected, () => new Error('corrupt')), PIECES);
  assert.equal(error, undefined);
  assert.equal(out.length, PIECES.length);
});
