// The `pgwarden` command line as users and scripts run it: a worker process, --json output, exit codes.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa, type ResultPromise } from 'execa';
import { stringify } from 'yaml';
import { EXIT_CODES } from '../../domain/errors.js';
import { startStack, type Stack } from '../harness/stack.js';
import { namespaceOf } from '../harness/temporal.js';

const CLI = fileURLToPath(new URL('../../client/cli.js', import.meta.url));

let stack: Stack;
let dir: string;
let configFile: string;
let env: Record<string, string>;
let worker: ResultPromise;
let workerLog = '';

before(async () => {
  stack = await startStack();
  await stack.pg.query('postgres', 'CREATE DATABASE cartly');
  await stack.pg.query('cartly', "CREATE TABLE users (id serial PRIMARY KEY, email text UNIQUE); INSERT INTO users (email) SELECT 'u' || g || '@test.cartly.de' FROM generate_series(1, 1000) g");
  dir = mkdtempSync(join(tmpdir(), 'pgwarden-cli-'));
  env = {
    CARTLY_DATABASE_URL: stack.pg.url('cartly'),
    B2_ACCOUNT_ID: stack.s3.accessKeyId,
    B2_APP_KEY: stack.s3.secretAccessKey,
    BACKUP_PASSPHRASE: 'cli test passphrase',
  };
  configFile = join(dir, 'pgwarden.yaml');
  writeFileSync(
    configFile,
    stringify({
      temporal: { address: stack.env.address, namespace: namespaceOf(stack.env), taskQueue: 'pgwarden-cli-test' },
      repositories: {
        b2: { type: 's3', endpoint: stack.s3.endpoint, bucket: stack.bucket, prefix: 'cli', forcePathStyle: true, accessKeyIdEnv: 'B2_ACCOUNT_ID', secretAccessKeyEnv: 'B2_APP_KEY' },
      },
      databases: { cartly: { connection: { env: 'CARTLY_DATABASE_URL' }, environment: 'production' } },
    }),
  );
  worker = execa('node', [CLI, '--config', configFile, 'worker'], { env, reject: false, all: true, buffer: false });
  worker.all?.on('data', (chunk: Buffer) => (workerLog += chunk.toString()));
  for (let i = 0; i < 100 && !workerLog.includes('Ctrl-C stops it'); i += 1) await new Promise((r) => setTimeout(r, 100));
  assert.match(workerLog, /pgwarden worker: task queue "pgwarden-cli-test"/);
});

after(async () => {
  worker?.kill('SIGTERM');
  await worker;
  await stack?.stop();
});

async function pgwarden(args: string[], extraEnv: Record<string, string> = {}) {
  // The SDK's switch is pgwarden's to set: the test process must not hand it down.
  const childEnv = { ...env, ...extraEnv, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: undefined };
  const result = await execa('node', [CLI, '--config', configFile, '--json', ...args], { env: childEnv, reject: false });
  // stderr is for pgwarden's own messages: no runtime or SDK warning (the AWS SDK's Node 20 notice was one).
  assert.doesNotMatch(result.stderr, /\(node:\d+\)|Warning:|WARNING:/, `stderr of pgwarden ${args.join(' ')}`);
  const json = result.stdout ? JSON.parse(result.stdout) : undefined;
  return { code: result.exitCode, json, stderr: result.stderr };
}

describe('pgwarden CLI', () => {
  let backupId: string;

  test('backup --json prints one result object and exits 0', async () => {
    const { code, json, stderr } = await pgwarden(['backup', '--db', 'cartly', '--kind', 'daily']);
    assert.equal(code, 0, stderr);
    assert.equal(json.ok, true);
    assert.equal(json.result.database, 'cartly');
    assert.equal(json.result.kind, 'daily');
    assert.equal(json.result.rows, 1000);
    backupId = json.result.backupId;
  });

  test('backups list shows it, with the RPO check', async () => {
    const { code, json } = await pgwarden(['backups', 'list', '--db', 'cartly']);
    assert.equal(code, 0);
    assert.deepEqual(json.result.backups.map((b: { id: string }) => b.id), [backupId]);
    assert.equal(json.result.withinRpo, true);
    assert.equal(json.result.rpoMs, 86_400_000);
  });

  test('restore latest into a new database exits 0 and reports the RTO', async () => {
    const { code, json, stderr } = await pgwarden(['restore', '--db', 'cartly', '--backup', 'latest', '--into', 'cartly_cli']);
    assert.equal(code, 0, stderr);
    assert.equal(json.result.backupId, backupId);
    assert.equal(json.result.rowCountsMatch, true);
    assert.equal(json.result.withinRto, true);
    const { rows } = await stack.pg.query<{ n: string }>('cartly_cli', 'SELECT count(*) AS n FROM users');
    assert.equal(rows[0]!.n, '1000');
  });

  test('restore --local works with Temporal down', async () => {
    const down = join(dir, 'temporal-down.yaml');
    const { readFileSync } = await import('node:fs');
    writeFileSync(down, readFileSync(configFile, 'utf8').replace(stack.env.address, '127.0.0.1:1'));
    const result = await execa('node', [CLI, '--config', down, '--json', 'restore', '--local', '--db', 'cartly', '--backup', backupId, '--into', 'cartly_local'], { env, reject: false });
    assert.equal(result.exitCode, 0, result.stderr);
    assert.equal(JSON.parse(result.stdout).result.rowCountsMatch, true);
    const broken = await execa('node', [CLI, '--config', down, 'backup', '--db', 'cartly'], { env, reject: false });
    assert.equal(broken.exitCode, EXIT_CODES.Unavailable);
    assert.match(broken.stderr, /Cannot reach Temporal at 127\.0\.0\.1:1 .* Start it/);
  });

  test('each failure has its documented exit code and a JSON error', async () => {
    const exists = await pgwarden(['restore', '--db', 'cartly', '--backup', 'latest', '--into', 'cartly_cli']);
    assert.equal(exists.code, EXIT_CODES.Refused);
    assert.equal(exists.json.ok, false);
    assert.equal(exists.json.error.kind, 'Refused');
    assert.equal((await pgwarden(['restore', '--db', 'cartly', '--backup', 'nope', '--into', 'x'])).code, EXIT_CODES.NotFound);
    assert.equal((await pgwarden(['backup', '--db', 'nope'])).code, EXIT_CODES.Config);
    for (const args of [['restore', '--db', 'cartly'], ['backup', '--db', 'cartly', '--kind', 'hourly'], ['no-such-command']]) {
      const usage = await pgwarden(args);
      assert.equal(usage.code, EXIT_CODES.Usage, args.join(' '));
      // Usage errors too: one JSON object on stdout, like every other failure under --json.
      assert.equal(usage.json?.ok, false, `${args.join(' ')}: stdout has the JSON error`);
      assert.equal(usage.json.error.kind, 'Usage');
      assert.equal(usage.json.error.exitCode, EXIT_CODES.Usage);
      assert.ok(usage.json.error.message.length > 0);
    }
  });

  test('config check reaches everything; an invalid file exits 3 naming the key', async () => {
    const ok = await pgwarden(['config', 'check']);
    assert.equal(ok.code, 0, JSON.stringify(ok.json));
    assert.ok(ok.json.result.checks.every((c: { ok: boolean }) => c.ok));
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, 'databases:\n  cartly:\n    connection: postgresql://u:p@h/db\nrepositories: {}\n');
    const result = await execa('node', [CLI, '--config', bad, 'config', 'check'], { reject: false });
    assert.equal(result.exitCode, EXIT_CODES.Config);
    assert.match(result.stderr, /databases\.cartly\.connection: must be \{ env: VAR_NAME \}/);
  });

  test('warns when no worker polls the task queue instead of waiting silently', async () => {
    const lonely = join(dir, 'lonely.yaml');
    const { readFileSync } = await import('node:fs');
    writeFileSync(lonely, readFileSync(configFile, 'utf8').replace('pgwarden-cli-test', 'nobody-listens'));
    const result = await execa('node', [CLI, '--config', lonely, 'backup', '--db', 'cartly', '--no-wait'], { env, reject: false });
    assert.equal(result.exitCode, 0);
    assert.match(result.stderr, /no pgwarden worker is polling task queue "nobody-listens"/);
    await stack.env.client.workflow.getHandle('pgwarden-backup-cartly').terminate('test over');
  });

  test('the worker stops cleanly on SIGTERM', async () => {
    worker.kill('SIGTERM');
    const result = await worker;
    assert.equal(result.exitCode, 0, workerLog);
    // Its activity-only Workers (job and host task queues) are how it is built, not something to warn about.
    assert.doesNotMatch(workerLog, /No workflows registered/, workerLog);
  });
});
