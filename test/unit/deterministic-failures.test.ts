// Failures that trying again cannot mend are not retried, and a schedule typo fails `config check`, not `schedules apply`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { CreateMultipartUploadCommand, UploadPartCommand, type S3Client } from '@aws-sdk/client-s3';
import { parseConfig } from '../../config/load.js';
import { cronProblem } from '../../config/cron.js';
import { PgwardenError } from '../../domain/errors.js';
import { dumpEndpoint } from '../../activities/providers/source.js';
import { parseLsn } from '../../activities/wal/names.js';
import { uploadStream } from '../../activities/storage/s3-upload.js';

const repositories = { local: { type: 'fs', path: '/var/backups/pgwarden' } };

/** The error `run` fails with, which must be a PgwardenError. */
async function failure(run: () => unknown): Promise<PgwardenError> {
  try {
    await run();
  } catch (error) {
    assert.ok(error instanceof PgwardenError, `a PgwardenError, not ${(error as Error).name}: ${(error as Error).message}`);
    return error;
  }
  assert.fail('did not fail');
}

test('an LSN that does not parse fails as a usage error, not retried', async () => {
  const error = await failure(() => parseLsn('0/XYZ'));
  assert.equal(error.kind, 'Usage');
  assert.equal(error.retryable, false);
  assert.match(error.message, /"0\/XYZ" is not an LSN \(write it like 0\/3000028\)/);
});

test('a Neon backup step without its branch fails as a configuration error, not retried', async () => {
  const config = parseConfig({ repositories, databases: { shop: { provider: 'neon', neon: { projectId: 'shiny-wind-028834' } } } });
  const error = await failure(() => dumpEndpoint(config, 'shop'));
  assert.equal(error.kind, 'Config');
  assert.equal(error.retryable, false);
  assert.match(error.message, /pgwarden backup --db shop/);
});

test('an upload that needs more than 10,000 parts fails as a configuration error naming partSizeMiB, not retried', async () => {
  const sent: string[] = [];
  // An S3 that accepts every part: only the number of parts can stop the upload.
  const client = {
    send: async (command: object) => {
      sent.push(command.constructor.name);
      if (command instanceof CreateMultipartUploadCommand) return { UploadId: 'u-1' };
      if (command instanceof UploadPartCommand) return { ETag: `"e"` };
      return {};
    },
  } as unknown as S3Client;
  // 1-byte parts, doubling every 2,000 parts: 10,000 parts hold 62,000 bytes.
  const body = Readable.from([Buffer.alloc(70_000)]);
  const error = await failure(() => uploadStream(client, { Bucket: 'b', Key: 'shop/logical/x/data-0000' }, body, { partBytes: 1, concurrency: 4, crc32: false }));
  assert.equal(error.kind, 'Config');
  assert.equal(error.retryable, false);
  assert.match(error.message, /needs more than 10000 parts .*raise the repository's partSizeMiB/);
  assert.ok(sent.includes('AbortMultipartUploadCommand'), 'the upload was aborted');
});

test('an S3 answer without an UploadId or ETag is a PgwardenError that says what to check (retried: it may be one bad answer)', async () => {
  const client = { send: async () => ({}) } as unknown as S3Client;
  const body = Readable.from([Buffer.alloc(40)]);
  const error = await failure(() => uploadStream(client, { Bucket: 'b', Key: 'k' }, body, { partBytes: 8, concurrency: 2, crc32: false }));
  assert.equal(error.kind, 'Failed');
  assert.match(error.message, /no UploadId.*speaks the S3 API/);
});

test('config check refuses a schedule whose cron string Temporal would refuse, naming the key', () => {
  const check = (schedules: Record<string, unknown>) => {
    try {
      parseConfig({ repositories, databases: { shop: { connection: { env: 'SHOP_URL' }, schedules } } });
      return undefined;
    } catch (error) {
      assert.ok(error instanceof PgwardenError);
      assert.equal(error.kind, 'Config');
      return error.message;
    }
  };
  assert.match(check({ daily: '0 25 * * *' }) ?? '', /databases\.shop\.schedules\.daily.*"0 25 \* \* \*" is not a cron string Temporal accepts: hour field: 25 is outside 0-23/);
  assert.match(check({ weekly: '0 1 * * SUNDAY' }) ?? '', /schedules\.weekly.*day of week field: "SUNDAY" is not a number or one of SUN, MON/);
  assert.match(check({ drill: '0 4 1 * * * * *' }) ?? '', /schedules\.drill.*has 8 fields; a cron string has 5/);
  assert.match(check({ monitor: '@every fifteen minutes' }) ?? '', /schedules\.monitor.*@every <duration>/);
  assert.match(check({ expire: '*/0 5 * * *' }) ?? '', /schedules\.expire.*bad step/);
  // What Temporal accepts passes, short forms included (they were refused for being under 9 characters).
  assert.equal(check({ daily: '30 2 * * *', weekly: '0 1 * * SUN', monthly: '0 0 1-7 * MON', basebackup: 'CRON_TZ=UTC 0 3 * * *', expire: '@daily', drill: false, monitor: '@every 15m', verify: '0 6 * * 0' }), undefined);
  assert.equal(cronProblem('*/15 * * * *'), undefined);
  assert.equal(cronProblem('0 0 12 1 JAN-MAR ? 2027'), undefined);
});
