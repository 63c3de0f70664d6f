// Streaming uploads into S3 (versitygw): parts of reused buffers arrive whole and in order; a failed source or a
// cancelled upload leaves neither an object nor an unfinished multipart upload.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { createServer, request, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { GetObjectCommand, HeadObjectCommand, ListMultipartUploadsCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { partSizeFor, uploadStream } from '../../activities/storage/s3-upload.js';
import { S3Repository } from '../../activities/storage/s3.js';
import { signsPayload, unsignedPayload } from '../../activities/storage/s3-client.js';
import { startS3, type TestS3 } from '../harness/s3.js';

const BUCKET = 'uploads';
const MiB = 1024 * 1024;
let s3: TestS3;

before(async () => {
  s3 = await startS3();
  await s3.createBucket(BUCKET);
});
after(() => s3?.stop());

/** `total` bytes in chunks of odd sizes, as a pipe delivers them. */
function source(data: Buffer, fail?: Error): Readable {
  let offset = 0;
  return new Readable({
    read() {
      if (fail && offset > data.length / 2) return void this.destroy(fail);
      const size = 1 + ((offset * 7919) % 70_000);
      this.push(offset < data.length ? data.subarray(offset, (offset += size)) : null);
    },
  });
}

async function stored(key: string): Promise<Buffer> {
  const result = await s3.client.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
  return Buffer.from(await result.Body!.transformToByteArray());
}

async function nothingLeft(prefix: string): Promise<void> {
  const objects = await s3.client.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: prefix }));
  assert.equal(objects.KeyCount ?? 0, 0, 'no object');
  const uploads = await s3.client.send(new ListMultipartUploadsCommand({ Bucket: BUCKET, Prefix: prefix }));
  assert.equal(uploads.Uploads?.length ?? 0, 0, 'no unfinished multipart upload');
}

test('an object of several parts arrives byte for byte, parts checked by their CRC32', async () => {
  const data = randomBytes(12 * MiB + 12345);
  await uploadStream(s3.client, { Bucket: BUCKET, Key: 'whole/big' }, source(data), { partBytes: 5 * MiB, concurrency: 2, crc32: true });
  const back = await stored('whole/big');
  assert.equal(createHash('sha256').update(back).digest('hex'), createHash('sha256').update(data).digest('hex'));
  const head = await s3.client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'whole/big', PartNumber: 3 }));
  assert.equal(head.PartsCount, 3, 'three parts: 5 MiB, 5 MiB and the rest');
});

test('an object smaller than a part is one PUT, and an empty one is stored too', async () => {
  for (const [key, size] of [['small/one', 1000], ['small/empty', 0]] as const) {
    const data = randomBytes(size);
    await uploadStream(s3.client, { Bucket: BUCKET, Key: key }, source(data), { partBytes: 5 * MiB, concurrency: 2, crc32: true });
    assert.deepEqual(await stored(key), data);
  }
});

test('a source that fails midway leaves no object and no unfinished upload, and its error is the one thrown', async () => {
  const failure = new Error('pg_dump: error: simulated');
  await assert.rejects(
    uploadStream(s3.client, { Bucket: BUCKET, Key: 'failed/source' }, source(randomBytes(16 * MiB), failure), { partBytes: 5 * MiB, concurrency: 2, crc32: true }),
    (error: unknown) => error === failure,
  );
  await nothingLeft('failed/');
});

test('a cancelled upload stops a source that stalls, and leaves nothing behind', async () => {
  const cancel = new AbortController();
  let sent = 0;
  const stalling = new Readable({
    read() {
      if (sent < 7 * MiB) this.push(randomBytes(MiB));
      sent += MiB; // then never again: the producer hangs
    },
  });
  setTimeout(() => cancel.abort(new Error('cancelled')), 500);
  await assert.rejects(uploadStream(s3.client, { Bucket: BUCKET, Key: 'cancelled/x' }, stalling, { partBytes: 5 * MiB, concurrency: 2, crc32: true, signal: cancel.signal }), /cancelled/);
  await nothingLeft('cancelled/');
});

test('parts grow after every 2,000, so 10,000 parts of 5 MiB reach about 310 GB', () => {
  assert.equal(partSizeFor(1, 5 * MiB), 5 * MiB);
  assert.equal(partSizeFor(2000, 5 * MiB), 5 * MiB);
  assert.equal(partSizeFor(2001, 5 * MiB), 10 * MiB);
  let total = 0;
  for (let part = 1; part <= 10_000; part += 1) total += partSizeFor(part, 5 * MiB);
  assert.ok(total > 300e9, `${total}`);
});

test('payloads are signed only where nothing else lets S3 check them (plain http, no CRC32s), unless configured', () => {
  assert.equal(signsPayload({ endpoint: 'https://s3.eu-central-1.amazonaws.com', requestChecksums: 'when_supported' }), false);
  assert.equal(signsPayload({ requestChecksums: 'when_supported' }), false, 'AWS: https');
  assert.equal(signsPayload({ endpoint: 'https://s3.eu-central-003.backblazeb2.com', requestChecksums: 'when_required' }), true, 'B2 without CRC32s');
  assert.equal(signsPayload({ endpoint: 'http://127.0.0.1:7070', requestChecksums: 'when_supported' }), true);
  assert.equal(signsPayload({ endpoint: 'https://minio.internal', requestChecksums: 'when_supported', signPayload: true }), true);
});

test('without payload signing, parts are sent as UNSIGNED-PAYLOAD (never a streamed body) and the server takes them', async () => {
  const seen: string[] = [];
  const next = async (args: { request: { headers: Record<string, string>; body?: unknown } }) => seen.push(args.request.headers['x-amz-content-sha256'] ?? 'computed later');
  await unsignedPayload(next)({ request: { headers: {}, body: Buffer.alloc(10) } });
  await unsignedPayload(next)({ request: { headers: {}, body: Readable.from([]) } });
  await unsignedPayload(next)({ request: { headers: { 'x-amz-content-sha256': 'STREAMING-UNSIGNED-PAYLOAD-TRAILER' }, body: Buffer.alloc(1) } });
  assert.deepEqual(seen, ['UNSIGNED-PAYLOAD', 'computed later', 'STREAMING-UNSIGNED-PAYLOAD-TRAILER']);

  process.env.PGWARDEN_TEST_UPLOAD_KEY = s3.accessKeyId;
  process.env.PGWARDEN_TEST_UPLOAD_SECRET = s3.secretAccessKey;
  const repo = new S3Repository('unsigned', {
    type: 's3', endpoint: s3.endpoint, region: 'us-east-1', bucket: BUCKET, prefix: 'unsigned', forcePathStyle: true,
    accessKeyIdEnv: 'PGWARDEN_TEST_UPLOAD_KEY', secretAccessKeyEnv: 'PGWARDEN_TEST_UPLOAD_SECRET',
    requestChecksums: 'when_supported', signPayload: false, partSizeMiB: 5, uploadConcurrency: 2, objectLockMode: 'compliance',
  });
  const data = randomBytes(11 * MiB);
  await repo.put('x', source(data));
  assert.deepEqual(await stored('unsigned/x'), data);
});

/**
 * A proxy in front of the S3 server that forwards every request at once but holds back the answers to those that
 * `slow` picks for `delayMs`: the server has done the work while the client still waits (as on a slow network).
 */
async function slowAnswers(upstream: string, slow: (req: IncomingMessage) => boolean, delayMs: number) {
  const target = new URL(upstream);
  const server = createServer((req, res) => {
    res.on('error', () => undefined);
    const up = request({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers }, (answer) => {
      const relay = () => {
        if (res.destroyed) return answer.resume(); // the client gave up waiting
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      };
      if (slow(req)) setTimeout(relay, delayMs);
      else relay();
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())).finally(() => server.closeAllConnections()),
  };
}

test('a source that fails while S3 is still answering the start of the multipart upload leaves no upload behind', async () => {
  // The server has started the upload; its answer (the upload id) is on its way when the source fails.
  const proxy = await slowAnswers(s3.endpoint, (req) => req.method === 'POST' && /[?&]uploads(&|=|$)/.test(req.url ?? ''), 1_000);
  const client = new S3Client({
    endpoint: proxy.endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
  });
  try {
    // A first part's worth (the upload starts), then the source dies while the answer is held back.
    const failing = new Readable({ read() {} });
    failing.push(randomBytes(6 * MiB));
    setTimeout(() => failing.destroy(new Error('pg_dump died')), 300);
    await assert.rejects(uploadStream(client, { Bucket: BUCKET, Key: 'slow-start/object' }, failing, { partBytes: 5 * MiB, concurrency: 2, crc32: true }), /pg_dump died/);
    await nothingLeft('slow-start/');
  } finally {
    client.destroy();
    await proxy.stop();
  }
});
