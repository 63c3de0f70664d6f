// TLS with certificates from a CA this test makes (openssl): PostgreSQL serving TLS, versitygw serving https, and
// Temporal behind a TLS front that demands a client certificate (the dev server serves no TLS itself).
// One meaning of each sslmode for pgwarden's own connections and for the libpq tools; CAs and client certificates
// from pgwarden.yaml; a backup and a restore through all three.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa, type ResultPromise } from 'execa';
import { stringify } from 'yaml';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { EXIT_CODES } from '../../domain/errors.js';
import { serverBinDir } from '../../activities/postgres/binaries.js';
import { clusterUser } from '../../activities/postgres/cluster.js';
import { connect, libpqEnv, pgEndpoint } from '../../activities/postgres/connection.js';
import { startCluster, type TestCluster } from '../harness/postgres.js';
import { startS3, type TestS3 } from '../harness/s3.js';
import { namespaceOf, startTemporal } from '../harness/temporal.js';
import { giveTo, issue, makeCa, tlsFront, type TestCa, type TestCert, type TlsFront } from '../harness/tls.js';

const CLI = fileURLToPath(new URL('../../client/cli.js', import.meta.url));
const PSQL = join(serverBinDir(), 'psql');

let dir: string;
let ca: TestCa; // signs every server and client certificate below
let stranger: TestCa; // a CA nothing here trusts
let client: TestCert; // pgwarden's client certificate for Temporal
let tlsPg: TestCluster; // PostgreSQL with ssl = on, certificate for DNS:localhost only
let plainPg: TestCluster; // PostgreSQL without TLS
let s3: TestS3; // versitygw over https
let temporal: TestWorkflowEnvironment;
let front: TlsFront; // TLS (mTLS) in front of the Temporal dev server

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'pgwarden-tls-'));
  chmodSync(dir, 0o755); // the cluster's OS user reads its certificate here
  [ca, stranger] = await Promise.all([makeCa(join(dir, 'ca'), 'pgwarden-test-ca'), makeCa(join(dir, 'stranger'), 'stranger-ca')]);
  const [pgCert, s3Cert, temporalCert] = await Promise.all([
    issue(ca, 'postgres-server', ['DNS:localhost']),
    issue(ca, 's3-server', ['IP:127.0.0.1']),
    issue(ca, 'temporal-server', ['DNS:localhost', 'IP:127.0.0.1']),
  ]);
  client = await issue(ca, 'pgwarden-client', [], 'client');
  chmodSync(pgCert.key, 0o600);
  giveTo(await clusterUser(process.env.PGWARDEN_CLUSTER_USER ?? 'pgwarden'), pgCert.key, pgCert.crt);
  [tlsPg, plainPg, s3, temporal] = await Promise.all([
    startCluster(['ssl = on', `ssl_cert_file = '${pgCert.crt}'`, `ssl_key_file = '${pgCert.key}'`]),
    startCluster(),
    startS3({ tls: { ...s3Cert, ca: ca.crt } }),
    startTemporal(),
  ]);
  front = await tlsFront(temporal.address, temporalCert, ca);
  await s3.createBucket('pgwarden-tls');
});

after(async () => {
  await front?.close();
  await temporal?.teardown();
  await Promise.all([tlsPg?.stop(), plainPg?.stop(), s3?.stop()]);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

type Outcome = 'tls' | 'plain' | 'refused';
const SSL_IN_USE = 'SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()';

/** pgwarden's own connection (node-postgres): encrypted, plain, or refused. */
async function viaPgwarden(url: string): Promise<Outcome> {
  try {
    const c = await connect(pgEndpoint(url, 'tls test'), 'tls test');
    try {
      return (await c.query<{ ssl: boolean }>(SSL_IN_USE)).rows[0]!.ssl ? 'tls' : 'plain';
    } finally {
      await c.end();
    }
  } catch {
    return 'refused';
  }
}

/** psql with the environment pgwarden gives pg_dump, pg_restore and psql. */
async function viaLibpq(url: string): Promise<Outcome> {
  let env: Record<string, string>;
  try {
    env = libpqEnv(pgEndpoint(url, 'tls test'));
  } catch {
    return 'refused';
  }
  const run = await execa(PSQL, ['-X', '-At', '-c', SSL_IN_USE], { env, extendEnv: false, reject: false });
  if (run.exitCode !== 0) return 'refused';
  return run.stdout.trim() === 't' ? 'tls' : 'plain';
}

/** A connection URL of `cluster` with `host` and TLS parameters. */
function url(cluster: TestCluster, host: string, params: Record<string, string>): string {
  const u = new URL(cluster.url('postgres'));
  u.hostname = host;
  for (const [k, v] of Object.entries(params)) u.searchParams.set(k, v);
  return u.toString();
}

describe('sslmode', () => {
  test('means the same for pgwarden\'s own connections and for the libpq tools (libpq\'s meaning)', async () => {
    const cases: Array<[string, () => string, Outcome]> = [
      ['no sslmode (prefer) on a TLS server', () => url(tlsPg, '127.0.0.1', {}), 'tls'],
      ['disable', () => url(tlsPg, '127.0.0.1', { sslmode: 'disable' }), 'plain'],
      ['allow', () => url(tlsPg, '127.0.0.1', { sslmode: 'allow' }), 'plain'],
      ['prefer', () => url(tlsPg, '127.0.0.1', { sslmode: 'prefer' }), 'tls'],
      ['prefer with a CA that did not sign the certificate (falls back to plain, as libpq does)', () => url(tlsPg, '127.0.0.1', { sslmode: 'prefer', sslrootcert: stranger.crt }), 'plain'],
      ['require without a CA: encrypted, certificate not checked', () => url(tlsPg, '127.0.0.1', { sslmode: 'require' }), 'tls'],
      ['require with the right CA', () => url(tlsPg, '127.0.0.1', { sslmode: 'require', sslrootcert: ca.crt }), 'tls'],
      ['require with a CA that did not sign the certificate', () => url(tlsPg, '127.0.0.1', { sslmode: 'require', sslrootcert: stranger.crt }), 'refused'],
      ['verify-ca: chain checked, host name not', () => url(tlsPg, '127.0.0.1', { sslmode: 'verify-ca', sslrootcert: ca.crt }), 'tls'],
      ['verify-ca with the wrong CA', () => url(tlsPg, '127.0.0.1', { sslmode: 'verify-ca', sslrootcert: stranger.crt }), 'refused'],
      ['verify-full to a name the certificate does not carry', () => url(tlsPg, '127.0.0.1', { sslmode: 'verify-full', sslrootcert: ca.crt }), 'refused'],
      ['verify-full to the certificate\'s name', () => url(tlsPg, 'localhost', { sslmode: 'verify-full', sslrootcert: ca.crt }), 'tls'],
      ['verify-full with the wrong CA', () => url(tlsPg, 'localhost', { sslmode: 'verify-full', sslrootcert: stranger.crt }), 'refused'],
      ['verify-full without a CA', () => url(tlsPg, 'localhost', { sslmode: 'verify-full' }), 'refused'],
      ['no sslmode on a server without TLS', () => url(plainPg, '127.0.0.1', {}), 'plain'],
      ['prefer on a server without TLS', () => url(plainPg, '127.0.0.1', { sslmode: 'prefer' }), 'plain'],
      ['require on a server without TLS', () => url(plainPg, '127.0.0.1', { sslmode: 'require' }), 'refused'],
    ];
    const seen = await Promise.all(cases.map(async ([name, make, expected]) => ({ name, expected, node: await viaPgwarden(make()), libpq: await viaLibpq(make()) })));
    const wrong = seen.filter((s) => s.node !== s.expected || s.libpq !== s.expected);
    assert.deepEqual(wrong, [], wrong.map((w) => `${w.name}: expected ${w.expected}, pgwarden ${w.node}, libpq tools ${w.libpq}`).join('\n'));
  });

  test('libpq alone refuses verify-full without a CA too; pgwarden says what to add', async () => {
    const bare = pgEndpoint(url(tlsPg, 'localhost', {}), 'tls test');
    const env = { ...libpqEnv(bare), PGSSLMODE: 'verify-full' };
    delete (env as Record<string, string>).PGSSLROOTCERT;
    const run = await execa(PSQL, ['-X', '-At', '-c', 'SELECT 1'], { env: { ...env, HOME: join(dir, 'empty-home') }, extendEnv: false, reject: false });
    assert.notEqual(run.exitCode, 0);
    assert.match(run.stderr, /root certificate file .* does not exist/);
    await assert.rejects(connect(pgEndpoint(url(tlsPg, 'localhost', { sslmode: 'verify-full' }), 'tls test'), 'tls test'), /sslmode=verify-full but names no CA: add sslrootcert=/);
  });
});

describe('backup and restore over TLS everywhere', () => {
  const taskQueue = 'pgwarden-tls';
  const env: Record<string, string> = {};
  let worker: ResultPromise | undefined;
  let workerLog = '';

  function writeConfig(name: string, temporalTls: unknown, s3CaFile: string | undefined): string {
    const file = join(dir, `${name}.yaml`);
    writeFileSync(
      file,
      stringify({
        temporal: { address: front.address, namespace: namespaceOf(temporal), taskQueue, tls: temporalTls },
        repositories: {
          s3: { type: 's3', endpoint: s3.endpoint, bucket: 'pgwarden-tls', forcePathStyle: true, accessKeyIdEnv: 'S3_KEY', secretAccessKeyEnv: 'S3_SECRET', ...(s3CaFile ? { caFile: s3CaFile } : {}) },
        },
        databases: { shop: { connection: { env: 'SHOP_URL' } } },
      }),
    );
    return file;
  }

  async function pgwarden(config: string, args: string[]) {
    const result = await execa('node', [CLI, '--config', config, '--json', ...args], { env: { ...env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: undefined }, reject: false });
    assert.doesNotMatch(result.stderr, /\(node:\d+\)|Warning:|WARNING:/, `stderr of pgwarden ${args.join(' ')}`);
    return { code: result.exitCode, json: result.stdout ? JSON.parse(result.stdout) : undefined, stderr: result.stderr };
  }

  let good: string;

  before(async () => {
    await tlsPg.query('postgres', 'CREATE DATABASE shop');
    await tlsPg.query('shop', "CREATE TABLE orders (id serial PRIMARY KEY, note text); INSERT INTO orders (note) SELECT 'order ' || g FROM generate_series(1, 2000) g");
    Object.assign(env, {
      SHOP_URL: url(tlsPg, 'localhost', { sslmode: 'verify-full', sslrootcert: ca.crt }).replace('/postgres?', '/shop?'),
      S3_KEY: s3.accessKeyId,
      S3_SECRET: s3.secretAccessKey,
      BACKUP_PASSPHRASE: 'tls test passphrase',
    });
    // Temporal by IP address, with the name its certificate carries (gRPC would otherwise send the IP as TLS server name).
    good = writeConfig('good', { caFile: ca.crt, certFile: client.crt, keyFile: client.key, serverName: 'localhost' }, ca.crt);
    worker = execa('node', [CLI, '--config', good, 'worker'], { env, reject: false, all: true, buffer: false });
    worker.all?.on('data', (chunk: Buffer) => (workerLog += chunk.toString()));
    for (let i = 0; i < 600 && !workerLog.includes('Ctrl-C stops it') && worker.exitCode === null; i += 1) await new Promise((r) => setTimeout(r, 100));
    assert.match(workerLog, /pgwarden worker: task queue "pgwarden-tls"/, workerLog);
  });

  after(async () => {
    worker?.kill('SIGTERM');
    await worker;
  });

  test('a backup and a restore run through Temporal over mTLS, S3 over https with the repository\'s CA, PostgreSQL with verify-full', async () => {
    const backup = await pgwarden(good, ['backup', '--db', 'shop']);
    assert.equal(backup.code, 0, backup.stderr);
    assert.equal(backup.json.result.rows, 2000);
    const restore = await pgwarden(good, ['restore', '--db', 'shop', '--backup', 'latest', '--into', 'shop_restored']);
    assert.equal(restore.code, 0, restore.stderr);
    assert.equal(restore.json.result.rowCountsMatch, true);
    assert.equal((await tlsPg.query<{ n: string }>('shop_restored', 'SELECT count(*) AS n FROM orders')).rows[0]!.n, '2000');
    assert.ok(front.clients.includes('pgwarden-client'), `Temporal's TLS front saw pgwarden's client certificate: ${front.clients.join(', ')}`);
    const listed = await pgwarden(good, ['backups', 'list', '--db', 'shop']);
    assert.equal(listed.code, 0, listed.stderr);
  });

  test('without its client certificate, or trusting another CA, pgwarden cannot reach Temporal and says where to look', async () => {
    for (const tls of [{ caFile: ca.crt, serverName: 'localhost' }, { caFile: stranger.crt, certFile: client.crt, keyFile: client.key, serverName: 'localhost' }]) {
      const refused = await pgwarden(writeConfig('refused', tls, ca.crt), ['backup', '--db', 'shop', '--no-wait']);
      assert.equal(refused.code, EXIT_CODES.Unavailable, refused.stderr);
      assert.match(refused.json.error.message, /temporal\.tls \(caFile/);
    }
    const missing = await pgwarden(writeConfig('missing', { caFile: join(dir, 'nope.crt') }, ca.crt), ['backup', '--db', 'shop']);
    assert.equal(missing.code, EXIT_CODES.Config);
    assert.match(missing.json.error.message, /temporal\.tls\.caFile: cannot read .*nope\.crt \(ENOENT\)/);
  });

  test('an https repository whose CA is not configured is refused with the key to set', async () => {
    const untrusted = await pgwarden(writeConfig('untrusted', { caFile: ca.crt, certFile: client.crt, keyFile: client.key, serverName: 'localhost' }, undefined), ['backups', 'list', '--db', 'shop']);
    assert.equal(untrusted.code, EXIT_CODES.Config, untrusted.stderr);
    assert.match(untrusted.json.error.message, /certificate is not trusted\. For a private CA set repositories\.s3\.caFile/);
  });
});
