// The benchmark's S3 server: versitygw over a temp directory, like test/harness/s3.ts, but over TLS with a
// self-signed certificate. pgBackRest speaks S3 only over TLS (plain http fails with "TLS error [1:167772427]
// wrong version number"), so for one server that every tool uses alike, all three talk https to it:
//   - pgwarden's worker (a child process) trusts the certificate through NODE_EXTRA_CA_CERTS;
//   - the runbook's uploader in this process through an https.Agent with the certificate as CA;
//   - pgBackRest with repo1-storage-verify-tls=n: pgBackRest 2.45 matches the host only against DNS names of the
//     certificate, not IP addresses, so 127.0.0.1 cannot verify (endpoint "localhost" with repo1-storage-ca-file
//     does, but "localhost" may resolve to ::1 first, where versitygw does not listen). TLS is negotiated all the
//     same, so the cost measured is that of a verified connection.
// --keep-alive: versitygw closes every connection after one response by default ("Connection: close"), which
// makes every client pay a TLS handshake per request; AWS S3 and Backblaze B2 keep connections open.
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { Agent } from 'node:https';
import { connect } from 'node:net';
import { join } from 'node:path';
import { execa } from 'execa';
import { CreateBucketCommand, ListBucketsCommand, S3Client } from '@aws-sdk/client-s3';
import { freePort } from '../activities/postgres/cluster.js';
import { findTool } from '../client/demo/tools.js';
import { sleep } from '../activities/sleep.js';

export interface BenchS3 {
  endpoint: string; // https://127.0.0.1:PORT
  host: string;
  port: number;
  accessKeyId: string;
  secretAccessKey: string;
  /** PEM of the self-signed certificate (readable by everyone: it is public). */
  caFile: string;
  /** The directory behind the buckets: stored sizes are measured here too. */
  root: string;
  client: S3Client;
  version: string;
  createBucket(name: string): Promise<void>;
  stop(): Promise<void>;
}

export async function startBenchS3(parent: string): Promise<BenchS3> {
  const dir = mkdtempSync(join(parent, 's3-'));
  chmodSync(dir, 0o755);
  const root = join(dir, 'buckets');
  const sidecar = join(dir, 'meta');
  mkdirSync(root);
  mkdirSync(sidecar);
  const caFile = join(dir, 'cert.pem');
  const keyFile = join(dir, 'key.pem');
  await execa('openssl', [
    'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=127.0.0.1',
    '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost', '-keyout', keyFile, '-out', caFile,
  ]);
  chmodSync(caFile, 0o644);
  const host = '127.0.0.1';
  const port = await freePort();
  const accessKeyId = 'pgwardenbench';
  const secretAccessKey = `secret-${Math.random().toString(36).slice(2)}`;
  const versitygw = findTool('versitygw');
  const version = (await execa(versitygw, ['--version'], { reject: false })).stdout.split('\n').find((l) => /version/i.test(l))?.trim() ?? 'unknown';
  const child = execa(versitygw, ['--access', accessKeyId, '--secret', secretAccessKey, '--port', `${host}:${port}`, '--cert', caFile, '--key', keyFile, '--keep-alive', '--quiet', 'posix', '--sidecar', sidecar, root], {
    stdio: ['ignore', 'ignore', 'pipe'],
    buffer: false,
    reject: false,
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-2000)));
  const endpoint = `https://${host}:${port}`;
  const client = new S3Client({
    endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId, secretAccessKey },
    requestHandler: { httpsAgent: new Agent({ ca: readFileSync(caFile), keepAlive: true, maxSockets: 16 }) },
  });
  const deadline = Date.now() + 20_000;
  for (;;) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect(port, host, () => (socket.end(), resolve(true)));
      socket.on('error', () => resolve(false));
    });
    if (open) {
      try {
        await client.send(new ListBucketsCommand({}));
        break;
      } catch (error) {
        if (Date.now() > deadline) throw new Error(`versitygw answers on ${endpoint} but not to S3 over TLS: ${(error as Error).message}`);
      }
    }
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`versitygw did not start on ${endpoint}: ${stderr.trim() || 'no output'}`);
    await sleep(100);
  }
  return {
    endpoint,
    host,
    port,
    accessKeyId,
    secretAccessKey,
    caFile,
    root,
    client,
    version,
    createBucket: async (name) => {
      await client.send(new CreateBucketCommand({ Bucket: name }));
    },
    stop: async () => {
      client.destroy();
      child.kill('SIGTERM');
      await child;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
