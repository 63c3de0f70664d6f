// Listing a large WAL archive (a busy week is tens of thousands of segments) pages through S3 and heartbeats as it
// goes, so planning a PITR or a retention run is seen alive and can be cancelled. Not timed: bench/archive-listing.ts.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { MockActivityEnvironment } from '@temporalio/testing';
import type { WalKeys } from '../../activities/keys/wal-keys.js';
import { S3Repository } from '../../activities/storage/s3.js';
import { listArchive } from '../../activities/wal/coverage.js';
import { segmentName } from '../../activities/wal/names.js';
import type { Progress } from '../../domain/progress.js';
import { startS3, type TestS3 } from '../harness/s3.js';

const BUCKET = 'archive';
const SEGMENTS = 2_500; // three pages of 1,000
let s3: TestS3;
let repo: S3Repository;

before(async () => {
  s3 = await startS3();
  await s3.createBucket(BUCKET);
  const keys = Array.from({ length: SEGMENTS }, (_, i) => `p/busy/wal/${segmentName(1, 0x100n + BigInt(i), 16 * 1024 * 1024)}.zst.gpg`);
  // One stored through the API, the others copied beside it on the server's disk (what is tested is the listing).
  await s3.client.send(new PutObjectCommand({ Bucket: BUCKET, Key: keys[0]!, Body: 'x' }));
  s3.copyStored(BUCKET, keys[0]!, keys.slice(1));
  process.env.PGWARDEN_TEST_LISTING_KEY = s3.accessKeyId;
  process.env.PGWARDEN_TEST_LISTING_SECRET = s3.secretAccessKey;
  repo = new S3Repository('archive', {
    type: 's3', endpoint: s3.endpoint, region: 'us-east-1', bucket: BUCKET, prefix: 'p', forcePathStyle: true,
    accessKeyIdEnv: 'PGWARDEN_TEST_LISTING_KEY', secretAccessKeyEnv: 'PGWARDEN_TEST_LISTING_SECRET',
    requestChecksums: 'when_supported', partSizeMiB: 5, uploadConcurrency: 2, objectLockMode: 'compliance',
  });
});
after(() => s3?.stop());

const noKeys = {} as WalKeys; // no timeline history files here: nothing to decrypt

test('lists every page of the archive and heartbeats with the count after each', async () => {
  const env = new MockActivityEnvironment();
  const beats: Progress[] = [];
  env.on('heartbeat', (details: Progress) => beats.push(details));
  const listing = (await env.run(() => listArchive(repo, 'busy', noKeys))) as Awaited<ReturnType<typeof listArchive>>;
  assert.equal(listing.segments.get(1)?.size, SEGMENTS);
  const counts = beats.filter((b) => b.phase === 'listing the WAL archive').map((b) => b.itemsDone);
  for (const page of [1000, 2000]) assert.ok(counts.includes(page), `a heartbeat after ${page} objects (got ${counts.join(', ')})`);
  assert.equal(counts.at(-1), SEGMENTS, 'and one with the total at the end');
});

test('a cancelled listing stops at its next heartbeat', async () => {
  const env = new MockActivityEnvironment();
  env.once('heartbeat', () => env.cancel());
  await assert.rejects(env.run(() => listArchive(repo, 'busy', noKeys)));
});
