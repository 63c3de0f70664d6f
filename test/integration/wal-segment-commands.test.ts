// wal-push and wal-fetch as PostgreSQL starts them, once per segment: from their own bundle, with one S3 request
// per segment, and with every check of the full path (identical re-push, refusal of different content, a changed
// pgwarden.yaml validated again). Real PostgreSQL WAL, real versitygw, behind a proxy that counts the requests.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeleteObjectCommand, HeadObjectCommand } from '@aws-sdk/client-s3';
import { execa } from 'execa';
import { stringify } from 'yaml';
import { WAL_ENTRY_BUNDLE } from '../../client/per-segment.js';
import { CLI } from '../harness/archiving.js';
import { secretEnv } from '../harness/config.js';
import { startCountingProxy, type CountingProxy } from '../harness/counting-proxy.js';
import { recordModuleLoads } from '../harness/module-loads.js';
import { startCluster, type TestCluster } from '../harness/postgres.js';
import { startS3, type TestS3 } from '../harness/s3.js';

const BUCKET = 'segments';
let s3: TestS3;
let proxy: CountingProxy;
let pg: TestCluster;
let dir: string; // what PostgreSQL's data directory is to the commands: pg_wal/ with closed segments
let segments: string[];
let configFile: string;
let input: Record<string, unknown>;

before(async () => {
  [s3, pg] = await Promise.all([startS3(), startCluster(['wal_level = replica', 'wal_keep_size = 1GB'])]);
  await s3.createBucket(BUCKET);
  proxy = await startCountingProxy(s3.endpoint);
  dir = mkdtempSync(join(tmpdir(), 'pgwarden-test-segments-'));
  mkdirSync(join(dir, 'pg_wal'));
  segments = [];
  for (let i = 0; i < 5; i += 1) {
    await pg.query('postgres', 'CREATE TABLE IF NOT EXISTS t (id serial, at timestamptz DEFAULT now()); INSERT INTO t DEFAULT VALUES');
    segments.push((await pg.query<{ name: string }>('postgres', 'SELECT pg_walfile_name(pg_switch_wal()) AS name')).rows[0]!.name);
  }
  await pg.query('postgres', 'CHECKPOINT');
  for (const name of segments) copyFileSync(join(pg.cluster.dataDir, 'pg_wal', name), join(dir, 'pg_wal', name));
  const s3Settings = {
    type: 's3',
    region: 'us-east-1',
    bucket: BUCKET,
    forcePathStyle: true,
    accessKeyIdEnv: secretEnv(s3.accessKeyId, 'PGWARDEN_TEST_S3_KEY'),
    secretAccessKeyEnv: secretEnv(s3.secretAccessKey, 'PGWARDEN_TEST_S3_SECRET'),
  };
  input = {
    temporal: { address: '127.0.0.1:7233' }, // never asked: these commands do not need Temporal
    encryption: { passphraseEnv: secretEnv('test passphrase: not for production', 'PGWARDEN_TEST_PASSPHRASE') },
    repositories: {
      counted: { ...s3Settings, endpoint: proxy.endpoint, prefix: 'archive' },
      elsewhere: { ...s3Settings, endpoint: s3.endpoint, prefix: 'moved' },
    },
    databases: { app: { connection: { env: secretEnv(pg.url('postgres'), 'PGWARDEN_TEST_URL') }, repositories: ['counted'], pitr: { repository: 'counted' } } },
  };
  configFile = join(dir, 'pgwarden.yaml');
  writeFileSync(configFile, stringify(input));
});

after(async () => {
  await proxy?.stop();
  await Promise.allSettled([s3?.stop(), pg?.stop()]);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function pgwarden(args: string[], options: { config?: string; nodeArgs?: string[]; env?: Record<string, string> } = {}) {
  return execa(process.execPath, [...(options.nodeArgs ?? []), CLI, '--config', options.config ?? configFile, ...args], { cwd: dir, reject: false, all: true, env: options.env ?? {} });
}

const push = (name: string, spool: string, options: { config?: string } = {}) => pgwarden(['wal-push', '--db', 'app', '--spool', spool, join('pg_wal', name)], options);
const fetch = (name: string, spool: string, to: string, options: { config?: string } = {}) => pgwarden(['wal-fetch', '--db', 'app', '--prefetch', '0', '--spool', spool, name, to], options);
const sha = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');
const newSpool = () => mkdtempSync(join(tmpdir(), 'pgwarden-test-spool-'));
/** The requests of the last command, without the bucket and prefix: "PUT app/wal/…". */
const requests = () => proxy.requests.map((r) => r.replace(/\?.*/, '').replace(` /${BUCKET}/archive/`, ' ').replace(` /${BUCKET}/`, ' '));

async function forget(key: string): Promise<void> {
  await s3.client.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: key }));
}

describe('wal-push and wal-fetch, once per segment', () => {
  test('archive_command runs the bundled entry point: nothing from node_modules, no module of the rest of the CLI', async () => {
    const loads = recordModuleLoads(join(dir, 'hooks'), 'wal-push');
    const run = await pgwarden(['wal-push', '--db', 'app', '--spool', newSpool(), join('pg_wal', segments[0]!)], { nodeArgs: loads.nodeArgs, env: loads.env });
    assert.equal(run.exitCode, 0, run.all);
    const files = loads.loaded();
    const bundle = WAL_ENTRY_BUNDLE.replace(/\.js$/, '');
    assert.ok(files.some((f) => f.endsWith('/wal-entry.bundle.js')), `the bundle ran: ${files.join(' ')}`);
    const others = files.filter((f) => !f.endsWith('/client/cli.js') && !f.endsWith('/client/per-segment.js') && !f.includes(bundle));
    assert.deepEqual(others, [], 'only the entry, its dispatcher and the bundle (with its chunks) are loaded');
  });

  test('a segment costs one S3 request to push and one to fetch; an identical re-push succeeds, a different one is refused and the archive is untouched', async () => {
    const spool = newSpool();
    const [first, name] = [segments[1]!, segments[2]!];
    assert.equal((await push(first, spool)).exitCode, 0); // the first push of a spool learns the bucket and makes the day's key
    proxy.reset();
    const pushed = await push(name, spool);
    assert.equal(pushed.exitCode, 0, pushed.all);
    assert.deepEqual(requests(), [`PUT app/wal/${name}.zst.gpg`], 'one conditional PUT, nothing else');

    assert.equal((await fetch(first, spool, join(dir, 'fetched'))).exitCode, 0); // opens the day's key, kept in the spool
    proxy.reset();
    const fetched = await fetch(name, spool, join(dir, 'fetched'));
    assert.equal(fetched.exitCode, 0, fetched.all);
    assert.equal(sha(join(dir, 'fetched')), sha(join(dir, 'pg_wal', name)));
    assert.deepEqual(requests(), [`GET app/wal/${name}.zst.gpg`]);

    proxy.reset();
    const again = await push(name, spool);
    assert.equal(again.exitCode, 0, again.all);
    assert.deepEqual(requests(), [`PUT app/wal/${name}.zst.gpg`, `HEAD app/wal/${name}.zst.gpg`], 'refused as existing, then compared');

    const changed = join(dir, 'changed', 'pg_wal');
    mkdirSync(changed, { recursive: true });
    const bytes = readFileSync(join(dir, 'pg_wal', name));
    bytes[100_000]! ^= 0xff;
    writeFileSync(join(changed, name), bytes);
    const different = await pgwarden(['wal-push', '--db', 'app', '--spool', spool, join(changed, name)]);
    assert.equal(different.exitCode, 5, different.all); // Refused
    assert.match(different.all ?? '', /already archived .* with different content .* not overwriting it/);
    assert.equal((await fetch(name, spool, join(dir, 'after-refusal'))).exitCode, 0);
    assert.equal(sha(join(dir, 'after-refusal')), sha(join(dir, 'pg_wal', name)), 'the archived copy is untouched');
  });

  test('where the server is not known to honour conditional writes, wal-push looks first and still refuses different content', async () => {
    const spool = newSpool();
    const name = segments[3]!;
    assert.equal((await push(segments[1]!, spool)).exitCode, 0);
    // As learned of a server that ignores If-None-Match (Backblaze B2 documents none).
    const facts = JSON.parse(readFileSync(join(spool, 'bucket.json'), 'utf8')) as Record<string, unknown>;
    assert.equal(facts.conditionalWrites, true, 'versitygw honours If-None-Match: learned by the probe');
    writeFileSync(join(spool, 'bucket.json'), JSON.stringify({ ...facts, conditionalWrites: false }));
    proxy.reset();
    assert.equal((await push(name, spool)).exitCode, 0);
    assert.deepEqual(requests(), [`HEAD app/wal/${name}.zst.gpg`, `PUT app/wal/${name}.zst.gpg`]);
    const changed = join(dir, 'changed-2', 'pg_wal');
    mkdirSync(changed, { recursive: true });
    const bytes = readFileSync(join(dir, 'pg_wal', name));
    bytes[200_000]! ^= 0xff;
    writeFileSync(join(changed, name), bytes);
    const different = await pgwarden(['wal-push', '--db', 'app', '--spool', spool, join(changed, name)]);
    assert.equal(different.exitCode, 5, different.all);
    assert.match(different.all ?? '', /with different content/);
  });

  test('a segment the server refuses as existing but does not hold is not reported archived', async () => {
    const spool = newSpool();
    const name = segments[4]!;
    assert.equal((await push(name, spool)).exitCode, 0);
    // versitygw keeps an object's metadata beside it: with the data file gone it refuses the create-only PUT as
    // existing while HEAD finds nothing. PostgreSQL must be told "not archived" (it tries again), never "archived".
    rmSync(join(s3.root, BUCKET, 'archive', 'app', 'wal', `${name}.zst.gpg`));
    const run = await push(name, spool);
    assert.equal(run.exitCode, 1, run.all);
    assert.match(run.all ?? '', /refused to create .* as already existing, but has no such object: not archived/);
    await forget(`archive/app/wal/${name}.zst.gpg`);
  });

  test('a changed pgwarden.yaml is validated again (exit code 3 when invalid); usage errors exit 2', async () => {
    const spool = newSpool();
    const file = join(dir, 'changing.yaml');
    writeFileSync(file, stringify(input));
    assert.equal((await push(segments[1]!, spool, { config: file })).exitCode, 0); // validated, and kept in the spool
    writeFileSync(file, stringify({ ...input, retention: { daily: 'seven days' } }));
    const run = await push(segments[1]!, spool, { config: file });
    assert.equal(run.exitCode, 3, run.all);
    assert.match(run.all ?? '', /changing\.yaml is invalid:\n {2}retention\.daily/);
    // Valid again, with one byte more than before: validated afresh, and accepted.
    writeFileSync(file, `${stringify(input)}\n`);
    assert.equal((await push(segments[1]!, spool, { config: file })).exitCode, 0);
    const usage = await pgwarden(['wal-push', '--db', 'app']);
    assert.equal(usage.exitCode, 2, usage.all);
    assert.match(usage.all ?? '', /missing required argument 'path'/);
    assert.equal((await pgwarden(['wal-fetch', '--db', 'app', '--prefetch', '0', 'FFFFFFFF0000000000000001', join(dir, 'nope')])).exitCode, 1, 'not archived');
  });

  test("the day's push key follows the archive: moved to another repository, WAL pushed there still opens", async () => {
    const spool = newSpool();
    const name = segments[2]!;
    assert.equal((await push(segments[1]!, spool)).exitCode, 0); // the day's key, stored in "counted"
    const moved = join(dir, 'moved.yaml');
    writeFileSync(moved, stringify({ ...input, databases: { app: { ...(input.databases as { app: object }).app, repositories: ['elsewhere'], pitr: { repository: 'elsewhere' } } } }));
    assert.equal((await push(name, spool, { config: moved })).exitCode, 0);
    const keyId = (await s3.client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: `moved/app/wal/${name}.zst.gpg` }))).Metadata?.['data-key'];
    await s3.client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: `moved/app/wal/keys/${keyId}.asc` })); // throws when missing
    const fetched = await fetch(name, newSpool(), join(dir, 'moved-fetched'), { config: moved });
    assert.equal(fetched.exitCode, 0, fetched.all);
  });
  test('the background pusher archives each ready segment once and leaves no result behind', async () => {
    // An archive of its own (a fresh prefix), and pg_wal/archive_status as PostgreSQL keeps it.
    const own = structuredClone(input) as { repositories: Record<string, Record<string, unknown>> };
    own.repositories.counted = { ...own.repositories.counted, prefix: 'pusher' };
    const config = join(dir, 'pusher.yaml');
    writeFileSync(config, stringify(own));
    const status = join(dir, 'pg_wal', 'archive_status');
    mkdirSync(status, { recursive: true });
    for (const name of segments) writeFileSync(join(status, `${name}.ready`), '');
    const spool = newSpool();
    proxy.reset();
    for (const name of segments) {
      const run = await pgwarden(['wal-push', '--db', 'app', '--async', '--spool', spool, join('pg_wal', name)], { config });
      assert.equal(run.exitCode, 0, run.all);
      // PostgreSQL marks the file done a moment after its archive_command returned, not at once.
      await new Promise((r) => setTimeout(r, 300));
      renameSync(join(status, `${name}.ready`), join(status, `${name}.done`));
    }
    // The pusher exits once nothing is ready for a while: what it leaves is what it left for good.
    for (let i = 0; existsSync(join(spool, 'push.lock')); i += 1) {
      if (i > 600) throw new Error(`the pusher did not exit: ${readFileSync(join(spool, 'pusher.log'), 'utf8')}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const puts = requests().filter((r) => /^PUT pusher\/app\/wal\/[0-9A-F]{24}\.zst\.gpg$/.test(r));
    assert.deepEqual(
      segments.map((name) => puts.filter((r) => r.endsWith(`${name}.zst.gpg`)).length),
      segments.map(() => 1),
      `one PUT per segment: ${puts.join(', ')}`,
    );
    assert.deepEqual(readdirSync(join(spool, 'out')), [], 'no result file left in the spool');
  });
});
