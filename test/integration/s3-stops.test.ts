// The S3 server stops gracefully (SIGTERM) in the middle of a transfer: the attempt fails, never hangs, whatever
// the transfer was doing (a source still producing, a part in flight, a download half read), and once the server
// is back the step, run again, completes with the object whole.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { ListMultipartUploadsCommand, AbortMultipartUploadCommand } from '@aws-sdk/client-s3';
import { PgwardenError } from '../../domain/errors.js';
import { S3Repository } from '../../activities/storage/s3.js';
import { sealInto, unsealInto, type SealSettings } from '../../activities/pipeline/seal.js';
import { startS3, type TestS3 } from '../harness/s3.js';
import { holdingProxy, stopGracefully } from '../harness/s3-stop.js';

const BUCKET = 'stops';
const MiB = 1024 * 1024;
const seal: SealSettings = { compression: { level: 1, threads: 1 }, passphrase: 'a data key for the stop tests', dataKey: true };
/** Long enough that a test would rather time out than pass by luck: a hang fails the test, it does not stall CI. */
const HANG = { timeout: 180_000 };
let s3: TestS3;

before(async () => {
  s3 = await startS3();
  await s3.createBucket(BUCKET);
  process.env.PGWARDEN_TEST_STOPS_KEY = s3.accessKeyId;
  process.env.PGWARDEN_TEST_STOPS_SECRET = s3.secretAccessKey;
});
after(() => s3?.stop());

/** A repository on `endpoint` (the server, or a proxy in front of it) whose silent connections fail after 2 s. */
function repository(endpoint = s3.endpoint): S3Repository {
  return new S3Repository('stops', {
    type: 's3', endpoint, region: 'us-east-1', bucket: BUCKET, prefix: 'p', forcePathStyle: true,
    accessKeyIdEnv: 'PGWARDEN_TEST_STOPS_KEY', secretAccessKeyEnv: 'PGWARDEN_TEST_STOPS_SECRET',
    requestChecksums: 'when_supported', partSizeMiB: 5, uploadConcurrency: 2, objectLockMode: 'compliance',
  }, { idleTimeoutMs: 2_000 });
}

/** `data` in 1 MiB chunks; after `holdAfter` bytes it waits until `release` resolves (pg_dump on a slow table). */
function source(data: Buffer, holdAfter = Infinity, release: Promise<void> = Promise.resolve()): Readable {
  let offset = 0;
  return new Readable({
    read() {
      if (offset >= data.length) return void this.push(null);
      const next = () => this.push(data.subarray(offset, (offset += MiB)));
      if (offset >= holdAfter) void release.then(next);
      else next();
    },
  });
}

/** Random (so that zstd leaves it as large as it is), written again as a retry of the step would. */
async function sealAgainAndRead(data: Buffer, key: string): Promise<void> {
  const repo = repository();
  const sealed = await sealInto(repo, key, source(data), seal);
  const back = await unsealInto(repo, { key, ...sealed }, seal.passphrase, [], { output: 'collect' });
  assert.ok(back.equals(data), 'the object is whole');
}

/** What a failed attempt left (unfinished multipart uploads, as the clean-up workflow finds them): removed. */
async function abortLeftovers(): Promise<void> {
  const uploads = await s3.client.send(new ListMultipartUploadsCommand({ Bucket: BUCKET }));
  for (const u of uploads.Uploads ?? []) await s3.client.send(new AbortMultipartUploadCommand({ Bucket: BUCKET, Key: u.Key!, UploadId: u.UploadId! }));
}

function unavailable(error: unknown): boolean {
  assert.ok(error instanceof PgwardenError, String(error));
  assert.equal(error.kind, 'Unavailable', error.message);
  assert.equal(error.retryable, true);
  return true;
}

test('a graceful S3 stop while the source still produces fails the seal (no hang), and a retry after the restart stores it whole', HANG, async () => {
  const data = randomBytes(40 * MiB);
  let release: () => void = () => undefined;
  const released = new Promise<void>((resolve) => (release = resolve));
  // Two parts go up, then the source holds while the server stops; then it produces the rest, more than the pipes
  // between it and the upload can hold.
  const sealing = sealInto(repository(), 'db/one', source(data, 12 * MiB, released), seal);
  sealing.catch(() => undefined);
  while ((await s3.client.send(new ListMultipartUploadsCommand({ Bucket: BUCKET }))).Uploads?.length !== 1) await new Promise((r) => setTimeout(r, 100));
  const stopped = await stopGracefully(s3);
  release();
  await assert.rejects(sealing, unavailable);
  await stopped.restart();
  await abortLeftovers();
  await sealAgainAndRead(data, 'db/one');
});

test('a graceful S3 stop while a part is half sent fails the upload once its connection is silent, and a retry completes', HANG, async () => {
  const data = randomBytes(16 * MiB);
  // The first part's request stops after 1 MiB of its body: the connection stays open and carries nothing.
  const proxy = await holdingProxy(s3.endpoint, (req) => req.method === 'PUT' && /partNumber=/.test(req.url ?? ''), 'upload', MiB);
  try {
    const sealing = sealInto(repository(proxy.endpoint), 'db/two', source(data), seal);
    sealing.catch(() => undefined);
    await proxy.held;
    const stopped = await stopGracefully(s3);
    await assert.rejects(sealing, unavailable);
    await stopped.restart();
  } finally {
    await proxy.stop();
  }
  await abortLeftovers();
  await sealAgainAndRead(data, 'db/two');
});

test('a graceful S3 stop in the middle of a download fails the read as retryable (not as corrupt), and a retry reads it whole', HANG, async () => {
  const data = randomBytes(12 * MiB);
  const sealed = await sealInto(repository(), 'db/three', source(data), seal);
  // The answer to the GET stops after 3 MiB: the rest never comes, the connection stays open.
  const proxy = await holdingProxy(s3.endpoint, (req) => req.method === 'GET' && /db\/three/.test(req.url ?? ''), 'download', 3 * MiB);
  try {
    const reading = unsealInto(repository(proxy.endpoint), { key: 'db/three', ...sealed }, seal.passphrase, [], { output: 'collect' });
    reading.catch(() => undefined);
    await proxy.held;
    const stopped = await stopGracefully(s3);
    await assert.rejects(reading, unavailable);
    await stopped.restart();
  } finally {
    await proxy.stop();
  }
  const back = await unsealInto(repository(), { key: 'db/three', ...sealed }, seal.passphrase, [], { output: 'collect' });
  assert.ok(back.equals(data), 'the object is whole');
});

test('a download that stops mid-way while the server stays up fails as retryable, not as a corrupt object', HANG, async () => {
  const data = randomBytes(12 * MiB);
  const sealed = await sealInto(repository(), 'db/four', source(data), seal);
  // Only the first GET is held: when it fails, the object read again (to tell a corrupt object from a failed read)
  // comes whole, and gpg's complaint about its cut input must not pass for damage.
  let first = true;
  const proxy = await holdingProxy(s3.endpoint, (req) => req.method === 'GET' && /db\/four/.test(req.url ?? '') && first && !(first = false), 'download', 3 * MiB);
  try {
    await assert.rejects(unsealInto(repository(proxy.endpoint), { key: 'db/four', ...sealed }, seal.passphrase, [], { output: 'collect' }), unavailable);
  } finally {
    await proxy.stop();
  }
});
