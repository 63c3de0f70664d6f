// Neon: backups dump a branch made for them and delete it whatever happens; point-in-time restores are branches at
// a time. Real Temporal, S3 and PostgreSQL; Neon is a local stand-in of its v2 API whose branches are real clusters.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeTimeoutType } from '@temporalio/common';
import { execa } from 'execa';
import pg from 'pg';
import { stringify } from 'yaml';
import { backupFolder, readManifest } from '../../activities/catalog/manifest.js';
import { openRepository } from '../../activities/storage/open.js';
import { startBackup, startLockedWorkflow, startRestore } from '../../client/api.js';
import { asPgwardenError, waitFor } from '../../client/watch.js';
import type { PgwardenError } from '../../domain/errors.js';
import type { Config, ConfigInput } from '../../config/schema.js';
import { expireWorkflowId } from '../../domain/ids.js';
import type { BackupResult } from '../../domain/backup.js';
import type { ExpireResult } from '../../domain/expire.js';
import type { NeonPitrResult } from '../../domain/pitr.js';
import type { RestoreResult } from '../../domain/restore.js';
import { CLI, makeReachable } from '../harness/archiving.js';
import { secretEnv, testConfig } from '../harness/config.js';
import { startFakeNeon, type FakeNeon } from '../harness/neon.js';
import { startStack, type Stack } from '../harness/stack.js';

let stack: Stack;
let neon: FakeNeon;
let input: ConfigInput;
let config: Config;

/** A configuration with databases "shop" and "shop-eu" on the stand-in's one project (and its own task queue). */
function neonConfig(): ConfigInput {
  const base = stack.configInput({});
  const database = () => ({
    provider: 'neon' as const,
    neon: { projectId: neon.projectId, apiKeyEnv: secretEnv(neon.apiKey, 'PGWARDEN_TEST_NEON_KEY'), apiUrl: neon.url, database: neon.database, role: neon.role },
    repositories: ['s3'],
  });
  return { ...base, databases: { shop: database(), 'shop-eu': database() } };
}

/** A request straight to the stand-in's API, as another tool (or the console) would make it. */
async function neonApi(method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> {
  const response = await fetch(`${neon.url}/projects/${neon.projectId}${path}`, {
    method,
    headers: { authorization: `Bearer ${neon.apiKey}`, 'content-type': 'application/json' },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  return { status: response.status, json: await response.json().catch(() => ({})) };
}

/** The names of the activities a run scheduled without a heartbeat timeout of at most 20 s. */
async function stepsWithoutHeartbeat(workflowId: string, runId: string): Promise<string[]> {
  const history = await stack.env.client.workflow.getHandle(workflowId, runId).fetchHistory();
  const scheduled = (history.events ?? []).map((e) => e.activityTaskScheduledEventAttributes).filter((a) => a);
  assert.ok(scheduled.length > 0);
  return scheduled.filter((a) => !a!.heartbeatTimeout || Number(a!.heartbeatTimeout.seconds ?? 0) > 20 || Number(a!.heartbeatTimeout.seconds ?? 0) === 0).map((a) => a!.activityType!.name!);
}

async function rows(url: string, sql: string): Promise<number> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return Number((await client.query<{ n: string }>(sql)).rows[0]!.n);
  } finally {
    await client.end();
  }
}

async function backup(cfg = config): Promise<BackupResult> {
  return waitFor<BackupResult>(await startBackup(stack.env.client, cfg, { database: 'shop', kind: 'manual' }));
}

const backupBranches = () => neon.liveBranches().filter((b) => b.annotations['pgwarden-database'] === 'shop' && b.annotations['pgwarden-purpose'] === 'backup');
let pitrRun: { workflowId: string; runId: string } | undefined;

before(async () => {
  [stack, neon] = await Promise.all([startStack(), startFakeNeon({ historyRetentionSeconds: 3_600 })]);
  await neon.query('CREATE TABLE orders (id serial PRIMARY KEY, item text NOT NULL, placed timestamptz NOT NULL DEFAULT now())');
  await neon.query(`INSERT INTO orders (item) SELECT 'item ' || g FROM generate_series(1, 100) g`);
  input = neonConfig();
  config = testConfig(input);
  await stack.worker(config);
});

after(async () => {
  await stack?.stop();
  await neon?.stop();
});

let first: BackupResult;

describe('a Neon backup', () => {

  test('dumps a branch made for it: the parent as of the branch point, none of its later writes; then deletes it', async () => {
    const running = startBackup(stack.env.client, config, { database: 'shop', kind: 'manual' });
    // Once the branch is checked, the application writes more: the backup must not contain it.
    await neon.waitForRequest(/^\/projects\/[^/]+\/branches\/br-[^/]+$/, 'GET');
    await neon.query(`INSERT INTO orders (item) SELECT 'late ' || g FROM generate_series(1, 50) g`);
    first = await waitFor<BackupResult>(await running);

    const manifest = await readManifest(openRepository(config, 's3'), backupFolder('shop', 'logical', first.backupId));
    assert.ok(manifest);
    assert.equal(manifest.tables['public.orders'], 100, 'the rows of the branch point, not the 50 written after it');
    assert.equal(await rows(neon.parentUrl, 'SELECT count(*) AS n FROM orders'), 150);
    assert.equal(manifest.provider?.name, 'neon');
    assert.equal(manifest.provider?.branchName, `pgwarden-shop-${first.backupId}`);
    assert.equal(manifest.provider?.parentBranchId, 'br-main-000001');
    assert.match(manifest.provider?.parentLsn ?? '', /^[0-9A-F]+\/[0-9A-F]+$/);
    assert.equal(first.neonBranch?.deleted, true);
    assert.deepEqual(backupBranches(), [], 'the branch is gone');

    const create = neon.requests.find((r) => r.method === 'POST' && r.status === 201)!.body as { branch: { name: string; parent_id: string; expires_at?: string }; endpoints: Array<{ type: string }>; annotation_value: Record<string, string> };
    assert.deepEqual(create.endpoints, [{ type: 'read_only' }]);
    assert.equal(create.branch.parent_id, 'br-main-000001');
    const expiresIn = Date.parse(create.branch.expires_at ?? '') - Date.now();
    assert.ok(expiresIn > 23 * 3_600_000 && expiresIn <= 24 * 3_600_000, `Neon's expiry is set as a second safety net (${create.branch.expires_at})`);
    assert.equal(create.annotation_value['pgwarden-run-id'], first.runId);
    assert.doesNotMatch(JSON.stringify(await historyOf(first.workflowId, first.runId)), /postgresql:\/\//, 'no connection string in the history');
  });

  test('restores into a new database on the parent branch, as the non-superuser owner role', async () => {
    const restored = await waitFor<RestoreResult>(await startRestore(stack.env.client, config, { database: 'shop', backup: first.backupId, target: 'shop_restored' }));
    assert.equal(restored.rowCountsMatch, true);
    const url = neon.parentUrl.replace(/\/neondb$/, '/shop_restored');
    assert.equal(await rows(url, 'SELECT count(*) AS n FROM orders'), 100);
    assert.equal(await rows(url, "SELECT count(*) AS n FROM pg_tables WHERE tableowner = 'neondb_owner' AND tablename = 'orders'"), 1);
  });

  test('rides out 423 Locked and 429 Too Many Requests (after Retry-After)', async () => {
    const before = neon.requests.length;
    neon.inject({ method: 'POST', path: /\/branches$/, status: 423, times: 2 });
    neon.inject({ method: 'GET', path: /\/operations\//, status: 429, times: 1, retryAfterSeconds: 2 });
    const result = await backup();
    assert.equal(result.neonBranch?.deleted, true);
    const seen = neon.requests.slice(before);
    assert.deepEqual(seen.filter((r) => r.method === 'POST').map((r) => r.status), [423, 423, 201]);
    const limited = seen.find((r) => r.path.includes('/operations/') && r.status === 429)!;
    const again = seen.find((r) => r.path === limited.path && r.at > limited.at);
    assert.ok(again, 'the operation was asked again');
    assert.ok(again.at - limited.at >= 1_900, `waited as long as Retry-After said (${again.at - limited.at} ms)`);
    assert.deepEqual(backupBranches(), []);
  });

  test('a lost answer to POST branches (Neon made the branch, the reply came after the client gave up) costs nothing: the branch is found by name and annotations', async () => {
    // A worker of its own whose requests wait 5 s for an answer (30 s unless told: neon.requestTimeout).
    const impatientInput = neonConfig();
    impatientInput.databases!.shop!.neon!.requestTimeout = '5s';
    const impatient = testConfig(impatientInput);
    await stack.worker(impatient);
    const before = neon.requests.length;
    // Held past the client's 5 s: the branch exists, the answer never arrives in time.
    neon.inject({ method: 'POST', path: /\/branches$/, status: 201, times: 1, answerAfterMs: 10_000 });
    const result = await backup(impatient);
    assert.equal(result.neonBranch?.deleted, true);
    const posts = neon.requests.slice(before).filter((r) => r.method === 'POST');
    assert.deepEqual(posts.map((r) => r.status), [201], 'asked once: a blind second POST would have met 409');
    assert.equal(result.neonBranch?.branchName, `pgwarden-shop-${result.backupId}`);
    assert.deepEqual(backupBranches(), []);
  });

  test('deletes the branch when the dump fails, and leaves no backup behind', async () => {
    neon.inject({ method: 'GET', path: /\/connection_uri$/, status: 200, times: 1, skip: 1, wrongPassword: true });
    const handle = await startBackup(stack.env.client, config, { database: 'shop', kind: 'manual' });
    await assert.rejects(waitFor(handle), (error: unknown) => {
      const failure = asPgwardenError(error) as PgwardenError;
      assert.equal(failure.kind, 'Config', failure.message);
      assert.match(failure.message, /refused the credentials/);
      return true;
    });
    assert.deepEqual(backupBranches(), [], 'the branch was deleted after the failed dump');
    assert.ok(neon.requests.some((r) => r.method === 'DELETE' && r.status === 200));
  });

  test('a worker killed between branch and clean-up leaves a branch that the next retention run deletes', async () => {
    const killedInput = neonConfig(); // a task queue of its own, served by a worker process we kill
    const dir = mkdtempSync(join(tmpdir(), 'pgwarden-test-neon-worker-'));
    const file = join(dir, 'pgwarden.yaml');
    writeFileSync(file, stringify(killedInput));
    makeReachable();
    const worker = execa(process.execPath, [CLI, '--config', file, 'worker'], { reject: false, env: process.env, stdio: 'ignore' });
    const killedConfig = testConfig(killedInput);
    let hit!: () => void;
    const dumping = new Promise<void>((resolve) => (hit = resolve));
    neon.inject({ method: 'GET', path: /\/connection_uri$/, status: 200, times: 1, skip: 1, delayMs: 30_000, onHit: () => hit() });
    const handle = await startBackup(stack.env.client, killedConfig, { database: 'shop', kind: 'manual' });
    await dumping; // the dump activity is asking for the branch's connection: between create and delete
    worker.kill('SIGKILL');
    await worker;
    await handle.terminate('the worker died and the run was given up'); // no clean-up code runs after this
    const left = backupBranches();
    assert.equal(left.length, 1, 'the branch is left behind');

    const expired = await waitFor<ExpireResult>(
      await startLockedWorkflow(stack.env.client, config, 'expireWorkflow', expireWorkflowId('shop'), 'Retention of "shop"', [{ database: 'shop' }], [['database', 'shop']]),
    );
    assert.deepEqual(expired.neonBranches?.deleted.map((b) => b.id), [left[0]!.id]);
    assert.match(expired.neonBranches!.deleted[0]!.reason, /TERMINATED/);
    assert.deepEqual(backupBranches(), []);
  });
});

describe('a worker that dies during a Neon API call', () => {
  test('is given up by its heartbeat (20 s, not the 5-minute timeout), and another worker finishes the backup', async () => {
    const killedInput = neonConfig(); // a task queue of its own, served by a worker process we kill
    const dir = mkdtempSync(join(tmpdir(), 'pgwarden-test-neon-worker-'));
    const file = join(dir, 'pgwarden.yaml');
    writeFileSync(file, stringify(killedInput));
    makeReachable();
    const doomed = execa(process.execPath, [CLI, '--config', file, 'worker'], { reject: false, env: process.env, stdio: 'ignore' });
    const killedConfig = testConfig(killedInput);
    let hit!: () => void;
    const asking = new Promise<void>((resolve) => (hit = resolve));
    // The first listing is the backup's check (prepareBackup); the second is createNeonBackupBranch's: it hangs.
    neon.inject({ method: 'GET', path: /\/branches$/, status: 200, times: 1, skip: 1, delayMs: 60_000, onHit: () => hit() });
    const handle = await startBackup(stack.env.client, killedConfig, { database: 'shop', kind: 'manual' });
    await asking;
    doomed.kill('SIGKILL');
    await doomed;
    await stack.worker(killedConfig); // the survivor
    const result = await waitFor<BackupResult>(handle);
    assert.equal(result.neonBranch?.deleted, true);
    const history = await stack.env.client.workflow.getHandle(result.workflowId, result.runId).fetchHistory();
    const started = (history.events ?? []).filter((e) => e.activityTaskStartedEventAttributes);
    const scheduled = new Map((history.events ?? []).filter((e) => e.activityTaskScheduledEventAttributes).map((e) => [String(e.eventId), e.activityTaskScheduledEventAttributes!.activityType!.name]));
    const create = started.find((e) => scheduled.get(String(e.activityTaskStartedEventAttributes!.scheduledEventId)) === 'createNeonBackupBranch')!.activityTaskStartedEventAttributes!;
    assert.equal(create.attempt, 2, 'the attempt on the killed worker was given up and tried again');
    assert.equal(decodeTimeoutType(create.lastFailure?.timeoutFailureInfo?.timeoutType), 'HEARTBEAT', JSON.stringify(create.lastFailure));
    assert.deepEqual(backupBranches(), []);
  });
});

describe('a Neon point-in-time restore', () => {
  let file: string;
  const cli = async (...args: string[]) => {
    const r = await execa(process.execPath, [CLI, '--config', file, '--json', ...args], { reject: false, env: process.env });
    return { code: r.exitCode, json: JSON.parse(r.stdout || '{}') as { ok: boolean; result?: any; error?: { kind: string; message: string } } };
  };

  before(() => {
    file = join(mkdtempSync(join(tmpdir(), 'pgwarden-test-neon-cli-')), 'pgwarden.yaml');
    writeFileSync(file, stringify(input));
  });

  test('to a time between two writes: the branch has the first and not the second, and stays until deleted', async () => {
    await neon.query('CREATE TABLE audit_log (id serial PRIMARY KEY, what text NOT NULL)');
    await neon.query(`INSERT INTO audit_log (what) VALUES ('before the bad migration')`);
    await new Promise((r) => setTimeout(r, 50));
    const between = new Date().toISOString();
    await new Promise((r) => setTimeout(r, 50));
    await neon.query(`INSERT INTO audit_log (what) VALUES ('the bad migration')`);

    const handle = await startLockedWorkflow(stack.env.client, config, 'neonPitrWorkflow', 'pgwarden-pitr-shop', 'PITR of "shop"', [{ database: 'shop', target: between }], [['database', 'shop']]);
    const result = await waitFor<NeonPitrResult>(handle);
    pitrRun = { workflowId: result.workflowId, runId: result.runId };
    assert.match(result.branchName, /^pgwarden-pitr-shop-/);
    assert.match(result.connection, /^postgresql:\/\/neondb_owner@127\.0\.0\.1:\d+\/neondb$/, 'no password in the result');
    assert.ok(result.comparedWith, 'the tables of the newest logical backup were counted');
    const branch = new pg.Client({ connectionString: neon.branchUrl(result.branchId) });
    await branch.connect();
    try {
      const { rows: found } = await branch.query<{ what: string }>('SELECT what FROM audit_log ORDER BY id');
      assert.deepEqual(found.map((r) => r.what), ['before the bad migration']);
    } finally {
      await branch.end();
    }
    assert.equal(result.tables.find((t) => t.table === 'public.orders')?.rows, 150);

    const listed = await cli('branches', 'list', '--db', 'shop');
    assert.equal(listed.code, 0, JSON.stringify(listed.json));
    assert.deepEqual(listed.json.result.branches.map((b: { name: string; purpose: string }) => [b.name, b.purpose]), [[result.branchName, 'pitr']]);
    const expired = await waitFor<ExpireResult>(
      await startLockedWorkflow(stack.env.client, config, 'expireWorkflow', expireWorkflowId('shop'), 'Retention of "shop"', [{ database: 'shop' }], [['database', 'shop']]),
    );
    assert.equal(expired.neonBranches, undefined, 'retention never touches a point-in-time branch');
    const deleted = await cli('branches', 'delete', '--db', 'shop', '--branch', result.branchName);
    assert.equal(deleted.code, 0, JSON.stringify(deleted.json));
    assert.deepEqual(neon.liveBranches().map((b) => b.name), ['main']);
  });

  test('refuses a time outside Neon\'s history window before creating anything, and prints the window', async () => {
    const posts = neon.requests.filter((r) => r.method === 'POST').length;
    const handle = await startLockedWorkflow(stack.env.client, config, 'neonPitrWorkflow', 'pgwarden-pitr-shop', 'PITR of "shop"', [{ database: 'shop', target: new Date(Date.now() - 2 * 3_600_000).toISOString() }], [['database', 'shop']]);
    await assert.rejects(waitFor(handle), (error: unknown) => {
      const failure = asPgwardenError(error) as PgwardenError;
      assert.equal(failure.kind, 'Refused');
      assert.match(failure.message, /outside Neon's history window .*: \d{4}-.* to \d{4}-/);
      return true;
    });
    assert.equal(neon.requests.filter((r) => r.method === 'POST').length, posts, 'no branch was requested');
    const status = await cli('wal', 'status', '--db', 'shop');
    assert.equal(status.code, 0, JSON.stringify(status.json));
    assert.equal(status.json.result.historyRetentionSeconds, 3_600);
    assert.equal(status.json.result.parentBranch.name, 'main');
  });

  test('a second PITR to the same moment makes a branch of its own, and when it fails it deletes only that one', async () => {
    const target = new Date(Date.now() - 2_000).toISOString();
    const pitr = () => startLockedWorkflow(stack.env.client, config, 'neonPitrWorkflow', 'pgwarden-pitr-shop', 'PITR of "shop"', [{ database: 'shop', target }], [['database', 'shop']]);
    const kept = await waitFor<NeonPitrResult>(await pitr()); // the user was told to keep this one
    const before = neon.requests.length;
    neon.inject({ method: 'GET', path: /\/connection_uri$/, status: 200, times: 1, wrongPassword: true }); // the second one's check fails
    await assert.rejects(waitFor(await pitr()), (error: unknown) => (asPgwardenError(error) as PgwardenError).kind === 'Config');
    const made = neon.requests.slice(before).filter((r) => r.method === 'POST' && r.status === 201);
    assert.equal(made.length, 1, 'the second run made a branch of its own');
    assert.notEqual((made[0]!.body as { branch: { name: string } }).branch.name, kept.branchName);
    assert.deepEqual(neon.liveBranches().filter((b) => b.annotations['pgwarden-purpose'] === 'pitr').map((b) => b.id), [kept.branchId], "the first run's branch stays; the failed run's is gone");
    assert.equal((await cli('branches', 'delete', '--db', 'shop', '--branch', kept.branchName)).code, 0);
  });

  test("refuses a time before the project existed (inside now - history): exit 5, nothing created; wal status prints the window Neon honours", async () => {
    const target = new Date(Date.parse(neon.createdAt) - 60_000).toISOString();
    assert.ok(Date.parse(target) > Date.now() - neon.historyRetentionSeconds * 1_000, 'inside now - history_retention_seconds');
    const posts = neon.requests.filter((r) => r.method === 'POST').length;
    const refused = await cli('pitr', '--db', 'shop', '--to', target);
    assert.equal(refused.code, 5, JSON.stringify(refused.json));
    assert.match(refused.json.error!.message, /outside Neon's history window .* which begins when the project was made/);
    assert.equal(neon.requests.filter((r) => r.method === 'POST').length, posts, 'no branch was requested');
    const status = await cli('wal', 'status', '--db', 'shop');
    const from = Date.parse(status.json.result.window.from);
    assert.ok(from >= Date.parse(neon.createdAt) && from < Date.parse(neon.createdAt) + 1_000, `the window starts when the project was made (${status.json.result.window.from}, made ${neon.createdAt})`);
    assert.equal(status.json.result.window.limitedBy, 'project age');
  });
});

describe('two databases in one Neon project ("shop" and "shop-eu")', () => {
  let file: string;
  const cli = async (...args: string[]) => {
    const r = await execa(process.execPath, [CLI, '--config', file, '--json', ...args], { reject: false, env: process.env });
    return { code: r.exitCode, json: JSON.parse(r.stdout || '{}') as { ok: boolean; result?: any; error?: { kind: string; message: string } } };
  };
  const expire = async (database: string) =>
    waitFor<ExpireResult>(await startLockedWorkflow(stack.env.client, config, 'expireWorkflow', expireWorkflowId(database), `Retention of "${database}"`, [{ database }], [['database', database]]));

  before(() => {
    file = join(mkdtempSync(join(tmpdir(), 'pgwarden-test-neon-cli-')), 'pgwarden.yaml');
    writeFileSync(file, stringify(input));
  });

  test("shop-eu's branches are not shop's: branches list, branches delete and retention of shop leave them alone", async () => {
    // A backup branch of shop-eu left behind by a run Temporal no longer knows: retention of shop-eu deletes it.
    const name = 'pgwarden-shop-eu-20261207T000000Z-manual-abcd';
    const made = await neonApi('POST', '/branches', {
      branch: { name },
      endpoints: [{ type: 'read_only' }],
      annotation_value: { 'pgwarden-purpose': 'backup', 'pgwarden-database': 'shop-eu', 'pgwarden-workflow-id': 'pgwarden-backup-shop-eu-gone', 'pgwarden-run-id': randomUUID() },
    });
    assert.equal(made.status, 201, JSON.stringify(made.json));
    const alive = () => neon.liveBranches().some((b) => b.name === name);

    const listed = await cli('branches', 'list', '--db', 'shop');
    assert.equal(listed.code, 0, JSON.stringify(listed.json));
    assert.deepEqual(listed.json.result.branches.map((b: { name: string }) => b.name), []);
    const deleted = await cli('branches', 'delete', '--db', 'shop', '--branch', name);
    assert.equal(deleted.code, 4, JSON.stringify(deleted.json));
    assert.equal((await expire('shop')).neonBranches, undefined, 'retention of shop sweeps no branch of shop-eu');
    assert.ok(alive());

    const theirs = await cli('branches', 'list', '--db', 'shop-eu');
    assert.deepEqual(theirs.json.result.branches.map((b: { name: string; purpose: string }) => [b.name, b.purpose]), [[name, 'backup']]);
    assert.deepEqual((await expire('shop-eu')).neonBranches?.deleted.map((b) => b.name), [name]);
    assert.ok(!alive());
  });
});

describe('the stand-in is as strict as Neon', () => {
  test('refuses unknown fields and query parameters, a duplicate name, and expires_at beyond 30 days', async () => {
    assert.equal((await neonApi('POST', '/branches', { branch: { name: 'x', colour: 'red' }, endpoints: [{ type: 'read_only' }] })).status, 400);
    assert.equal((await neonApi('GET', '/branches?name=main')).status, 400);
    const far = new Date(Date.now() + 31 * 86_400_000).toISOString().replace(/\.\d+Z$/, 'Z');
    assert.equal((await neonApi('POST', '/branches', { branch: { name: 'far', expires_at: far }, endpoints: [{ type: 'read_only' }] })).status, 400);
    assert.equal((await neonApi('POST', '/branches', { branch: { name: 'main' }, endpoints: [{ type: 'read_write' }] })).status, 409);
  });

  test("limits read-only computes per project to the Free plan's 3", async () => {
    // The tests before may leave an operation running (retention's branch deletion): like any Neon client, ride out
    // 423 Locked, which Neon answers while one runs.
    const whenUnlocked = async (method: string, path: string, body?: unknown) => {
      for (let tries = 0; ; tries += 1) {
        const r = await neonApi(method, path, body);
        if (r.status !== 423 || tries >= 150) return r;
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    };
    const made: string[] = [];
    for (let i = 1; i <= 3; i += 1) {
      const r = await whenUnlocked('POST', '/branches', { branch: { name: `replica-${i}` }, endpoints: [{ type: 'read_only' }] });
      assert.equal(r.status, 201, JSON.stringify(r.json));
      made.push(r.json.branch.id);
      for (const op of r.json.operations as Array<{ id: string }>) {
        while ((await neonApi('GET', `/operations/${op.id}`)).json.operation.status === 'running') await new Promise((r) => setTimeout(r, 200));
      }
    }
    const fourth = await neonApi('POST', '/branches', { branch: { name: 'replica-4' }, endpoints: [{ type: 'read_only' }] });
    assert.equal(fourth.status, 422, JSON.stringify(fourth.json));
    for (const id of made) assert.equal((await whenUnlocked('DELETE', `/branches/${id}`)).status, 200);
  });
});

describe('every Neon step', () => {
  test('heartbeats: a worker that dies during a Neon API call is given up in 20 s, not after the 5-minute timeout', async () => {
    assert.ok(first, 'the first backup ran');
    assert.deepEqual(await stepsWithoutHeartbeat(first.workflowId, first.runId), [], 'backup');
    assert.ok(pitrRun, 'the first point-in-time restore ran');
    assert.deepEqual(await stepsWithoutHeartbeat(pitrRun.workflowId, pitrRun.runId), [], 'point-in-time restore');
  });
});

async function historyOf(workflowId: string, runId: string): Promise<unknown> {
  return stack.env.client.workflow.getHandle(workflowId, runId).fetchHistory();
}

