// Pre-migration backups as migration scripts use them: `pgwarden premigrate -- <migration>` and the Node API, on
// real Temporal, PostgreSQL and S3 (versitygw), with the runbook's layout: pre-migration in b2 + aws, the rest b2.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa, type ResultPromise } from 'execa';
import pg from 'pg';
import { stringify } from 'yaml';
import { listBackups } from '../../activities/catalog/list.js';
import { backupFolder } from '../../activities/catalog/manifest.js';
import { createActivities } from '../../activities/index.js';
import { serverBinDir } from '../../activities/postgres/binaries.js';
import { openRepository } from '../../activities/storage/open.js';
import { startBackup, startRestore } from '../../client/api.js';
import { preMigrationBackup, requestPreMigrationBackup, runWithPreMigrationBackup } from '../../client/premigration.js';
import { waitFor } from '../../client/watch.js';
import { EXIT_CODES, PgwardenError } from '../../domain/errors.js';
import type { Config, ConfigInput } from '../../config/schema.js';
import type { BackupResult } from '../../domain/backup.js';
import type { MigrationFinished, MigrationStarted, PreMigrationResult, PreMigrationStatus } from '../../domain/premigration.js';
import type { RestoreResult } from '../../domain/restore.js';
import { secretEnv, testConfig } from '../harness/config.js';
import { startStack, type Stack } from '../harness/stack.js';
import type { RunningWorker } from '../harness/temporal.js';

const CLI = fileURLToPath(new URL('../../client/cli.js', import.meta.url));
const PACKAGE_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const DAY = 86_400_000;

let stack: Stack;
let worker: RunningWorker;
let config: Config;
let configFile: string;
let dir: string;

before(async () => {
  stack = await startStack();
  await stack.pg.query('postgres', 'CREATE DATABASE shop');
  await stack.pg.query('shop', "CREATE TABLE users (id serial PRIMARY KEY, email text NOT NULL); INSERT INTO users (email) SELECT 'u' || g || '@test.cartly.de' FROM generate_series(1, 500) g");
  await stack.pg.query('shop', 'CREATE TABLE orders (id serial PRIMARY KEY, total int); INSERT INTO orders (total) SELECT g FROM generate_series(1, 200) g');
  await stack.s3.createBucket('pgwarden-aws');
  const reader = await stack.s3.readOnlyAccount('pgwarden-aws');

  const input = stack.configInput({ shop: { db: 'shop', repositories: ['b2'] }, 'shop-readonly': { db: 'shop', repositories: ['b2'] } });
  const b2 = input.repositories.s3!;
  const aws = { ...b2, bucket: 'pgwarden-aws', prefix: 'pgwarden' } as typeof b2;
  const readonly = { ...aws, accessKeyIdEnv: secretEnv(reader.accessKeyId, 'PGWARDEN_TEST_RO_KEY'), secretAccessKeyEnv: secretEnv(reader.secretAccessKey, 'PGWARDEN_TEST_RO_SECRET') } as typeof b2;
  const full: ConfigInput = {
    ...input,
    repositories: { b2, aws, 'aws-readonly': readonly },
    databases: {
      // The runbook: every backup in B2, pre-migration backups in B2 and S3.
      shop: { ...input.databases.shop!, kinds: { 'pre-migration': { repositories: ['b2', 'aws'] } } },
      // The same, but the second repository's key may only read.
      'shop-readonly': { ...input.databases['shop-readonly']!, kinds: { 'pre-migration': { repositories: ['b2', 'aws-readonly'] } } },
    },
  };
  config = testConfig(full);
  dir = mkdtempSync(join(tmpdir(), 'pgwarden-premigration-'));
  configFile = join(dir, 'pgwarden.yaml');
  writeFileSync(configFile, stringify(full));
  worker = await stack.worker(config);
});

after(async () => {
  await stack?.stop();
});

/** The CLI as a migration pipeline runs it (secrets come from this process's environment, as in the worker's). */
function pgwarden(args: string[], env: Record<string, string> = {}): ResultPromise<{ reject: false; all: true }> {
  return execa('node', [CLI, '--config', configFile, ...args], { env, reject: false, all: true });
}

function psql(database: string, sql: string): string {
  return `"${serverBinDir()}/psql" -X -v ON_ERROR_STOP=1 -d "${stack.pg.url(database)}" -c "${sql}"`;
}

async function columns(database: string, table: string): Promise<string[]> {
  const { rows } = await stack.pg.query<{ column_name: string }>(database, 'SELECT column_name FROM information_schema.columns WHERE table_name = $1 ORDER BY ordinal_position', [table]);
  return rows.map((r) => r.column_name);
}

async function preMigrationIds(repository: string, migrationId: string): Promise<string[]> {
  return (await listBackups(openRepository(config, repository), 'shop', 'logical')).filter((m) => m.migrationId === migrationId).map((m) => m.id);
}

/** What the workflow's history holds for the migration: the signals' payloads, decoded. */
async function migrationSignals(workflowId: string): Promise<{ started: MigrationStarted[]; finished: MigrationFinished[] }> {
  const history = await stack.env.client.workflow.getHandle(workflowId).fetchHistory();
  const { defaultPayloadConverter } = await import('@temporalio/common');
  const signals = (history.events ?? []).flatMap((e) => (e.workflowExecutionSignaledEventAttributes ? [e.workflowExecutionSignaledEventAttributes] : []));
  const payloads = (name: string) => signals.filter((s) => s.signalName === name).map((s) => defaultPayloadConverter.fromPayload(s.input!.payloads![0]!));
  return { started: payloads('migrationStarted') as MigrationStarted[], finished: payloads('migrationFinished') as MigrationFinished[] };
}

describe('pgwarden premigrate -- <migration>', () => {
  let backupId: string;

  test('a shell migration runs after a backup verified in both repositories that still has the old schema; the history names it and its exit code', async () => {
    const script = join(dir, 'add-nickname.sh');
    writeFileSync(script, `#!/bin/sh\nset -e\necho "migration $1 running"\n${psql('shop', 'ALTER TABLE users ADD COLUMN nickname text')}\n`);
    const run = await pgwarden(['premigrate', '--db', 'shop', '--migration', '20261125_add_nickname', '--', 'sh', script, 'v2']);
    assert.equal(run.exitCode, 0, run.all);
    const [firstLine] = run.stdout.split('\n');
    backupId = firstLine!;
    assert.match(backupId, /^\d{8}T\d{6}Z-pre-migration-[0-9a-f]{4}$/, 'the backup id comes first on stdout');
    assert.match(run.stdout, /migration v2 running/, "the migration's output is passed on");
    assert.match(run.stderr, /complete and verified in b2 \+ aws/);
    assert.deepEqual(await columns('shop', 'users'), ['id', 'email', 'nickname'], 'the migration ran');

    for (const repository of ['b2', 'aws']) assert.deepEqual(await preMigrationIds(repository, '20261125_add_nickname'), [backupId], `in ${repository}`);
    const restored = await waitFor<RestoreResult>(await startRestore(stack.env.client, config, { database: 'shop', backup: backupId, target: 'shop_before_nickname' }));
    assert.equal(restored.rowCountsMatch, true);
    assert.deepEqual(await columns('shop_before_nickname', 'users'), ['id', 'email'], 'the backup was taken before the migration');

    const workflowId = 'pgwarden-premigration-shop-20261125_add_nickname';
    const signals = await migrationSignals(workflowId);
    assert.deepEqual(signals.started.map((s) => [s.attempt, s.command]), [[1, 'sh']], 'the start is in the history, without the arguments');
    assert.deepEqual(signals.finished.map((f) => [f.attempt, f.exitCode]), [[1, 0]]);
    const result = await stack.env.client.workflow.getHandle(workflowId).result() as PreMigrationResult;
    assert.equal(result.backupId, backupId);
    assert.deepEqual(result.migrations.map((m) => [m.outcome, m.exitCode]), [['succeeded', 0]]);
  });

  test("a failing migration's exit code and output are passed on and recorded (--json: one object on stdout)", async () => {
    const run = await pgwarden(['--json', 'premigrate', '--db', 'shop', '--migration', '20261126_broken', '--', 'sh', '-c', 'echo applying; echo "ERROR: column exists" >&2; exit 3']);
    assert.equal(run.exitCode, 3, run.all);
    assert.match(run.stderr, /^applying$/m, "with --json the command's stdout goes to stderr");
    assert.match(run.stderr, /ERROR: column exists/);
    assert.match(run.stderr, /exited with code 3/);
    const json = JSON.parse(run.stdout);
    assert.equal(json.ok, false);
    assert.match(json.result.backupId, /-pre-migration-/);
    assert.deepEqual([json.result.migration.attempt, json.result.migration.exitCode], [1, 3]);
    // ok:false comes with the error object every command's --json promises.
    assert.deepEqual([json.error?.kind, json.error?.exitCode], ['Failed', 3], run.stdout);
    assert.match(json.error.message, /Migration 20261126_broken exited with code 3 after .*; backup .*-pre-migration-.* was taken before it/);
    const result = await stack.env.client.workflow.getHandle('pgwarden-premigration-shop-20261126_broken').result() as PreMigrationResult;
    assert.deepEqual(result.migrations.map((m) => [m.outcome, m.exitCode]), [['failed', 3]]);
  });

  test('a repository that refuses writes fails the backup: the migration never runs', async () => {
    const marker = join(dir, 'migrated');
    const run = await pgwarden(['premigrate', '--db', 'shop-readonly', '--migration', '20261127_x', '--', 'touch', marker]);
    assert.equal(run.exitCode, EXIT_CODES.Config, run.all);
    assert.match(run.stderr, /No pre-migration backup of "shop-readonly" for migration 20261127_x: .*refused .*repository "aws-readonly"/);
    assert.equal(existsSync(marker), false, 'the migration did not run');
    assert.doesNotMatch(run.stderr, /Running the migration/);
    // A failed backup removes what it wrote: the complete copy in b2 as well, which the next request must not reuse.
    const inB2 = (await listBackups(openRepository(config, 'b2'), 'shop-readonly', 'logical')).filter((m) => m.migrationId === '20261127_x');
    assert.deepEqual(inB2.map((m) => m.id), [], 'the copy in the first repository was removed');
    const again = await pgwarden(['premigrate', '--db', 'shop-readonly', '--migration', '20261127_x', '--', 'touch', marker]);
    assert.equal(again.exitCode, EXIT_CODES.Config, again.all);
    assert.doesNotMatch(again.stderr, /copying earlier backup|taken earlier for this migration/, 'nothing of the failed backup was reused');
    // The second request dumped again: its refused write names a backup of its own.
    const refusedId = (text: string) => /shop-readonly\/logical\/([^/]+)\//.exec(text)?.[1];
    assert.ok(refusedId(run.stderr) && refusedId(again.stderr), again.stderr);
    assert.notEqual(refusedId(again.stderr), refusedId(run.stderr), 'a new backup, not the earlier one');
    assert.equal(existsSync(marker), false, 'the migration did not run');
  });

  test('a retry whose earlier backup no longer verifies in one repository is refused: the migration does not run', async () => {
    // One byte of the aws copy of the first migration's backup rots on the S3 server's disk.
    const object = join(stack.s3.root, 'pgwarden-aws', 'pgwarden', 'shop', 'logical', backupId, 'pre-data.pgdump.zst.gpg');
    const intact = readFileSync(object);
    const rotten = Buffer.from(intact);
    rotten[rotten.length >> 1]! ^= 0xff;
    writeFileSync(object, rotten);
    try {
      const marker = join(dir, 'migrated-again');
      const run = await pgwarden(['premigrate', '--db', 'shop', '--migration', '20261125_add_nickname', '--', 'touch', marker]);
      assert.equal(run.exitCode, EXIT_CODES.Integrity, run.all);
      assert.match(run.stderr, new RegExp(`backup taken earlier for this migration \\(${backupId}\\) does not verify: .*in repository "aws" is corrupt.*--new`));
      assert.equal(existsSync(marker), false, 'the migration did not run');
    } finally {
      writeFileSync(object, intact);
    }
  });

  test('the same migration id gives the same backup (at once, and again later); --new takes another', async () => {
    // Two CI jobs of one migration at the same time: one workflow, one dump.
    const ask = () => preMigrationBackup(stack.env.client, config, { database: 'shop', migrationId: '20261128_twice' });
    const [a, b] = await Promise.all([ask(), ask()]);
    assert.equal(a.backupId, b.backupId);
    // A retry after the first workflow ended: a new run finds the backup in the repositories.
    const again = await pgwarden(['--json', 'premigrate', '--db', 'shop', '--migration', '20261128_twice']);
    assert.equal(again.exitCode, 0, again.all);
    const retried = JSON.parse(again.stdout).result;
    assert.equal(retried.backupId, a.backupId);
    assert.equal(retried.reused, true);
    assert.match(again.stderr, /taken earlier for this migration/);
    assert.deepEqual(await preMigrationIds('b2', '20261128_twice'), [a.backupId], 'one dump');

    const fresh = await pgwarden(['premigrate', '--db', 'shop', '--migration', '20261128_twice', '--new']);
    assert.equal(fresh.exitCode, 0, fresh.all);
    assert.notEqual(fresh.stdout.trim(), a.backupId);
    assert.deepEqual(await preMigrationIds('aws', '20261128_twice'), [a.backupId, fresh.stdout.trim()]);
  });

  test('a running daily backup is waited for; two migrations asking meanwhile get one backup each, one after the other, with every row up to their request', async () => {
    // The daily backup takes its snapshot, then waits for a table lock a long transaction holds: it is running.
    const holder = new pg.Client({ connectionString: stack.pg.url('shop') });
    await holder.connect();
    await holder.query('BEGIN');
    await holder.query('LOCK TABLE orders IN ACCESS EXCLUSIVE MODE');
    let held = true;
    const release = async () => {
      if (held) await holder.query('COMMIT');
      held = false;
    };
    const running: ResultPromise[] = [];
    try {
      const daily = waitFor<BackupResult>(await startBackup(stack.env.client, config, { database: 'shop', kind: 'daily' }));
      for (let i = 0; i < 300; i += 1) {
        const { rows } = await stack.pg.query('shop', "SELECT 1 FROM pg_locks WHERE NOT granted AND relation = 'orders'::regclass");
        if (rows.length > 0) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      const { rows: before } = await stack.pg.query<{ n: string }>('shop', 'SELECT count(*) AS n FROM users');
      await stack.pg.query('shop', "INSERT INTO users (email) VALUES ('after-the-daily-snapshot@test.cartly.de')");

      const first = pgwarden(['premigrate', '--db', 'shop', '--migration', '20261129_a']);
      const second = pgwarden(['premigrate', '--db', 'shop', '--migration', '20261129_b']);
      running.push(first, second);
      const outputs = ['', ''];
      first.all!.on('data', (chunk: Buffer) => (outputs[0] += chunk.toString()));
      second.all!.on('data', (chunk: Buffer) => (outputs[1] += chunk.toString()));
      for (let i = 0; i < 600 && !outputs.every((o) => /waiting for the daily backup of shop/.test(o)); i += 1) await new Promise((r) => setTimeout(r, 100));
      assert.match(outputs[0]!, /waiting for the daily backup of shop \(workflow pgwarden-backup-shop, running since .*\) to finish; the pre-migration backup starts right after it/);
      // Waiting takes none of the worker's activity slots: only the daily's dump runs (waiters must never crowd out
      // the backup they wait for, nor other databases' backups).
      let inFlight = worker.worker.getStatus().numInFlightNonLocalActivities;
      for (let i = 0; i < 100 && inFlight !== 1; i += 1) {
        await new Promise((r) => setTimeout(r, 100));
        inFlight = worker.worker.getStatus().numInFlightNonLocalActivities;
      }
      assert.equal(inFlight, 1, 'activities running on the worker while two migrations wait');
      // A migration that cannot wait that long gives up, and does not run.
      const marker = join(dir, 'impatient');
      const impatient = await pgwarden(['premigrate', '--db', 'shop', '--migration', '20261129_impatient', '--timeout', '2s', '--', 'touch', marker]);
      assert.equal(impatient.exitCode, EXIT_CODES.Failed, impatient.all);
      assert.match(impatient.stderr, /No pre-migration backup of "shop" for migration 20261129_impatient within 2\.0s: the migration must not run/);
      assert.equal(existsSync(marker), false);
      await release();

      const [dailyResult, a, b] = await Promise.all([daily, first, second]);
      assert.equal(a.exitCode, 0, a.all);
      assert.equal(b.exitCode, 0, b.all);
      assert.match(a.stderr, /taken in .*, .* of it waiting for another backup of shop to finish/);
      const manifests = (await listBackups(openRepository(config, 'b2'), 'shop', 'logical')).filter((m) => [dailyResult.backupId, a.stdout.trim(), b.stdout.trim()].includes(m.id));
      assert.equal(manifests.length, 3);
      manifests.sort((x, y) => x.startedAt.localeCompare(y.startedAt));
      assert.equal(manifests[0]!.id, dailyResult.backupId, 'the daily backup went first');
      for (let i = 1; i < manifests.length; i += 1) {
        assert.ok(manifests[i]!.startedAt >= manifests[i - 1]!.finishedAt, `never two dumps at once: ${manifests.map((m) => `${m.kind} ${m.startedAt}..${m.finishedAt}`).join(', ')}`);
      }
      const expected = Number(before[0]!.n);
      assert.equal(manifests[0]!.tables['public.users'], expected, 'the daily snapshot predates the insert');
      assert.equal(manifests[1]!.tables['public.users'], expected + 1, 'a pre-migration backup holds everything up to its request');
      assert.equal(manifests[2]!.tables['public.users'], expected + 1);
    } finally {
      // A failed assertion must not leave the lock held and the CLIs waiting: the suite would never end.
      await release().catch(() => undefined);
      await holder.end();
      for (const cli of running) cli.kill('SIGKILL');
    }
  });
});

describe('the Node API and the Temporal UI', () => {
  test('a migration script that imports the package gets a verified backup id', async () => {
    const project = join(dir, 'app');
    mkdirSync(join(project, 'node_modules'), { recursive: true });
    symlinkSync(PACKAGE_ROOT, join(project, 'node_modules', 'pgwarden'), 'dir'); // what `npm install <path>` makes
    writeFileSync(
      join(project, 'migrate.mjs'),
      [
        "import { requestPreMigrationBackup } from 'pgwarden';",
        "const backupId = await requestPreMigrationBackup({ database: 'shop', migrationId: process.argv[2], timeout: '10m' });",
        'console.log(backupId);',
      ].join('\n'),
    );
    const run = await execa('node', ['migrate.mjs', '20261130_api'], { cwd: project, env: { PGWARDEN_CONFIG: configFile }, reject: false, all: true });
    assert.equal(run.exitCode, 0, run.all);
    const backupId = run.stdout.trim();
    for (const repository of ['b2', 'aws']) assert.deepEqual(await preMigrationIds(repository, '20261130_api'), [backupId]);

    await assert.rejects(requestPreMigrationBackup({ database: 'nope', migrationId: 'x', config }), (error: unknown) => error instanceof PgwardenError && error.kind === 'Config');
    await assert.rejects(requestPreMigrationBackup({ database: 'shop', migrationId: 'no spaces', config }), (error: unknown) => error instanceof PgwardenError && error.kind === 'Usage');
  });

  test('started from the UI with {"database", "migrationId"} it takes the backup', async () => {
    const handle = await stack.env.client.workflow.start('preMigrationWorkflow', {
      workflowId: 'pgwarden-premigration-shop-20261201_ui',
      taskQueue: config.temporal.taskQueue,
      args: [{ database: 'shop', migrationId: '20261201_ui' }],
    });
    const result = (await handle.result()) as PreMigrationResult;
    assert.deepEqual(result.repositories, ['b2', 'aws']);
    assert.deepEqual(result.migrations, []);
    assert.deepEqual(await preMigrationIds('aws', '20261201_ui'), [result.backupId]);
  });
});

describe('the migration audit trail from the Node API and the Temporal UI', () => {
  test('runWithPreMigrationBackup records the migration start and how it ended, as premigrate -- COMMAND does', async () => {
    const migrated = await runWithPreMigrationBackup({ database: 'shop', migrationId: '20261202_api_audit', command: 'knex', timeout: '10m', config }, async (backupId) => `migrated after ${backupId}`);
    assert.match(migrated, /^migrated after .*-pre-migration-/);
    const workflowId = 'pgwarden-premigration-shop-20261202_api_audit';
    const result = (await stack.env.client.workflow.getHandle(workflowId).result()) as PreMigrationResult;
    assert.deepEqual(result.migrations.map((m) => [m.attempt, m.outcome, m.command, m.exitCode]), [[1, 'succeeded', 'knex', 0]]);
    const signals = await migrationSignals(workflowId);
    assert.deepEqual([signals.started.length, signals.finished.length], [1, 1]);

    // A migration that throws: recorded as failed (what it threw, not its message), and the error reaches the caller.
    await assert.rejects(
      runWithPreMigrationBackup({ database: 'shop', migrationId: '20261202_api_broken', config }, async () => {
        throw new TypeError('relation "orders" already exists (postgres://app:secret@db/cartly)');
      }),
      /already exists/,
    );
    const broken = (await stack.env.client.workflow.getHandle('pgwarden-premigration-shop-20261202_api_broken').result()) as PreMigrationResult;
    assert.deepEqual(broken.migrations.map((m) => [m.outcome, m.exitCode, m.error]), [['failed', 1, 'the migration threw TypeError']]);
    assert.doesNotMatch(JSON.stringify(await stack.env.client.workflow.getHandle('pgwarden-premigration-shop-20261202_api_broken').fetchHistory()), /secret/);
  });

  test('started from the UI with "runsMigration": true it waits for the migrationStarted and migrationFinished signals a person sends', async () => {
    const handle = await stack.env.client.workflow.start('preMigrationWorkflow', {
      workflowId: 'pgwarden-premigration-shop-20261203_ui_audit',
      taskQueue: config.temporal.taskQueue,
      args: [{ database: 'shop', migrationId: '20261203_ui_audit', runsMigration: true }],
    });
    let status: PreMigrationStatus | undefined;
    for (let i = 0; i < 600 && !status?.backup; i += 1) {
      status = await handle.query<PreMigrationStatus>('preMigrationStatus');
      if (!status.backup) await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(status?.backup, 'the backup was taken');
    // What the UI's "Send a Signal" form sends, as the README shows it.
    await handle.signal('migrationStarted', { attempt: 1, command: 'psql', host: 'ops-laptop', startedAt: new Date().toISOString() });
    await handle.signal('migrationFinished', { attempt: 1, exitCode: 0, durationMs: 4200 });
    const result = (await handle.result()) as PreMigrationResult;
    assert.deepEqual(result.migrations.map((m) => [m.attempt, m.outcome, m.command, m.host, m.exitCode]), [[1, 'succeeded', 'psql', 'ops-laptop', 0]]);
  });
});

describe('repositories and retention per kind', () => {
  test('backups list shows kind, migration id and where each backup is', async () => {
    const run = await pgwarden(['--json', 'backups', 'list', '--db', 'shop']);
    assert.equal(run.exitCode, 0, run.all);
    const rows = JSON.parse(run.stdout).result.backups as Array<{ kind: string; migrationId?: string; repositories: string[] }>;
    const nickname = rows.find((r) => r.migrationId === '20261125_add_nickname');
    assert.deepEqual(nickname?.repositories, ['b2', 'aws']);
    assert.deepEqual(rows.find((r) => r.kind === 'daily')?.repositories, ['b2'], 'daily backups go to b2 only');
    const human = await pgwarden(['backups', 'list', '--db', 'shop']);
    assert.match(human.stdout, /pre-migration\s+20261125_add_nickname\s.*b2\+aws/);
  });

  test('a restore finds a backup in whichever repository still holds it', async () => {
    const [id] = await preMigrationIds('aws', '20261201_ui');
    const b2 = openRepository(config, 'b2');
    const keys: string[] = [];
    for await (const object of b2.list(backupFolder('shop', 'logical', id!))) keys.push(object.key);
    await b2.delete(keys); // B2 lost it
    const restored = await waitFor<RestoreResult>(await startRestore(stack.env.client, config, { database: 'shop', backup: id!, target: 'shop_from_aws' }));
    assert.equal(restored.backupId, id);
    assert.equal(restored.rowCountsMatch, true);
  });

  test('pre-migration backups are kept 90 days, in both repositories', async () => {
    const activities = createActivities(config);
    const at = (days: number) => activities.planExpiry({ database: 'shop', nowMs: Date.now() + days * DAY });
    assert.ok(!(await at(89)).logical.some((l) => l.kind === 'pre-migration'));
    const expired = (await at(91)).logical.filter((l) => l.kind === 'pre-migration');
    assert.ok(expired.some((l) => l.repository === 'aws') && expired.some((l) => l.repository === 'b2'));
    assert.match(expired[0]!.rule, /pre-migration backups are kept 90 days/);
  });
});
