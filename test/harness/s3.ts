// A real S3 server for tests: versitygw over a temp directory (real SigV4, multipart uploads).
import { mkdtempSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, get as httpsGet } from 'node:https';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { execa } from 'execa';
import { CreateBucketCommand, PutBucketPolicyCommand, S3Client } from '@aws-sdk/client-s3';
import { freePort } from '../../activities/postgres/cluster.js';
import { findTool } from '../../client/demo/tools.js';

export interface TestS3 {
  endpoint: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** The directory behind the buckets: tests corrupt objects here. */
  root: string;
  client: S3Client;
  /** `objectLock`: a bucket with S3 Object Lock (the server must have been started with `versioning`). */
  createBucket(name: string, options?: { objectLock?: boolean }): Promise<void>;
  /**
   * Copies of `key` (stored through the API) under each of `keys`, made on the server's disk as it stores objects
   * (the data file, and its metadata in the sidecar folder): thousands of objects to list or page through, without
   * thousands of PUTs. Not for tests of what the server does when it stores an object.
   */
  copyStored(bucket: string, key: string, keys: string[]): void;
  /** A second account that may list and read `bucket` but not write to it (a bucket policy, as S3 does it). */
  readOnlyAccount(bucket: string): Promise<{ accessKeyId: string; secretAccessKey: string }>;
  /** The server goes away (connections refused), its data stays. */
  down(): Promise<void>;
  /** The server is back on the same port with the same data. */
  up(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * `tls`: serve https with this certificate (PEM files); `ca` is the CA that signed it, for the test's own client.
 * `versioning`: versitygw keeps object versions (its --versioning-dir), which S3 Object Lock needs.
 */
export async function startS3(options: { tls?: { crt: string; key: string; ca: string }; versioning?: boolean } = {}): Promise<TestS3> {
  const dir = mkdtempSync(join(tmpdir(), 'pgwarden-test-s3-'));
  const root = join(dir, 'buckets');
  const sidecar = join(dir, 'meta'); // the posix backend needs xattrs otherwise
  const iam = join(dir, 'iam'); // accounts besides the root one
  const versions = join(dir, 'versions');
  mkdirSync(root);
  mkdirSync(sidecar);
  mkdirSync(iam);
  if (options.versioning) mkdirSync(versions);
  const port = await freePort();
  const accessKeyId = 'pgwardentest';
  const secretAccessKey = `secret-${Math.random().toString(36).slice(2)}`;
  const tls = options.tls ? ['--cert', options.tls.crt, '--key', options.tls.key] : [];
  const endpoint = `${options.tls ? 'https' : 'http'}://127.0.0.1:${port}`;
  const httpsAgent = options.tls ? new Agent({ ca: readFileSync(options.tls.ca) }) : undefined;
  const client = new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId, secretAccessKey }, ...(httpsAgent ? { requestHandler: { httpsAgent } } : {}) });
  // Started again on the same port and directories by up(): that is how tests take "S3 down" and back.
  const launch = async () => {
    const child = execa(findTool('versitygw'), ['--access', accessKeyId, '--secret', secretAccessKey, '--port', `127.0.0.1:${port}`, ...tls, '--iam-dir', iam, '--quiet', 'posix', '--sidecar', sidecar, ...(options.versioning ? ['--versioning-dir', versions] : []), root], {
      stdio: ['ignore', 'ignore', 'pipe'],
      buffer: false,
      reject: false,
    });
    const deadline = Date.now() + 20_000;
    for (;;) {
      try {
        if (httpsAgent) await new Promise((resolve, reject) => httpsGet(endpoint, { agent: httpsAgent }, (res) => resolve(res.resume())).on('error', reject));
        else await fetch(endpoint);
        return { child }; // wrapped: an execa result is a promise, which an async function would wait for
      } catch (error) {
        if (Date.now() > deadline || child.exitCode !== null) throw new Error(`versitygw did not start: ${(error as Error).message}`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
  };
  let server: Awaited<ReturnType<typeof launch>> | undefined = await launch();
  const halt = async (signal: 'SIGTERM' | 'SIGKILL') => {
    const running = server?.child;
    server = undefined;
    running?.kill(signal);
    await running;
  };
  return {
    endpoint,
    accessKeyId,
    secretAccessKey,
    root,
    client,
    createBucket: async (name, bucketOptions = {}) => {
      await client.send(new CreateBucketCommand({ Bucket: name, ...(bucketOptions.objectLock ? { ObjectLockEnabledForBucket: true } : {}) }));
    },
    copyStored: (bucket, key, keys) => {
      const data = readFileSync(join(root, bucket, key));
      const meta = join(sidecar, bucket, key, 'meta');
      const metaFiles = readdirSync(meta).map((name) => [name, readFileSync(join(meta, name))] as const);
      for (const copy of keys) {
        mkdirSync(dirname(join(root, bucket, copy)), { recursive: true });
        writeFileSync(join(root, bucket, copy), data);
        mkdirSync(join(sidecar, bucket, copy, 'meta'), { recursive: true });
        for (const [name, bytes] of metaFiles) writeFileSync(join(sidecar, bucket, copy, 'meta', name), bytes);
      }
    },
    readOnlyAccount: async (bucket) => {
      const account = { accessKeyId: `reader${Math.random().toString(36).slice(2, 8)}`, secretAccessKey: `secret-${Math.random().toString(36).slice(2)}` };
      await execa(findTool('versitygw'), [
        'admin', '--access', accessKeyId, '--secret', secretAccessKey, '--endpoint-url', endpoint,
        'create-user', '--access', account.accessKeyId, '--secret', account.secretAccessKey, '--role', 'user',
      ]);
      const policy = {
        Version: '2012-10-17',
        Statement: [{ Effect: 'Allow', Principal: { AWS: [account.accessKeyId] }, Action: ['s3:ListBucket', 's3:ListBucketMultipartUploads', 's3:GetObject'], Resource: [`arn:aws:s3:::${bucket}`, `arn:aws:s3:::${bucket}/*`] }],
      };
      await client.send(new PutBucketPolicyCommand({ Bucket: bucket, Policy: JSON.stringify(policy) }));
      return account;
    },
    down: () => halt('SIGKILL'), // as a crash or a network cut: no goodbye
    up: async () => {
      server ??= await launch();
    },
    stop: async () => {
      client.destroy();
      await halt('SIGTERM');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
