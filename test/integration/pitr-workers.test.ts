// Point-in-time restores with two workers on one task queue, each on "its own host" (its own host task queue and
// restore directory): every step of a restore runs on the worker that made its data directory; when that worker
// is killed mid-restore, no step moves to the other one, the restore starts over there, and what the killed worker
// left is removed when it comes back; with a port of the user's choice, the new attempt first removes what the killed
// one left on this machine (its server still runs there, on that port), and the RTO counts from the first attempt.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa, type ResultPromise } from 'execa';
import pg from 'pg';
import { defaultPayloadConverter } from '@temporalio/common';
import { serverBinDir } from '../../activities/postgres/binaries.js';
import { clusterUser, freePort, LocalCluster } from '../../activities/postgres/cluster.js';
import { startBaseBackup, startPitr } from '../../client/api.js';
import { waitFor } from '../../client/watch.js';
import type { ConfigInput } from '../../config/schema.js';
import { stringify } from 'yaml';
import type { PitrResult } from '../../domain/pitr.js';
import { CLI, startArchivingCluster, type ArchivingCluster } from '../harness/archiving.js';
import { testConfig } from '../harness/config.js';
import { SUPERUSER } from '../harness/postgres.js';
import { startStack, type Stack } from '../harness/stack.js';
import type { RunningWorker } from '../harness/temporal.js';

let stack: Stack;
let source: ArchivingCluster;
const scratch = mkdtempSync(join(tmpdir(), 'pgwarden-pitr-workers-'));
chmodSync(scratch, 0o755);
const hostA = { queue: 'pitr-host-a', dir: join(scratch, 'host-a') };
const hostB = { queue: 'pitr-host-b', dir: join(scratch, 'host-b') };
let workerA: { child: ResultPromise } | undefined;
let workerB: RunningWorker | undefined;

/** The source's configuration as worker `host` sees it: the same task queue, its own host queue and restore directory. */
function inputFor(host: { queue: string; dir: string }): ConfigInput {
  const input = structuredClone(source.input);
  input.temporal = { ...input.temporal, hostTaskQueue: host.queue, hostWait: '5s' };
  input.databases!.app!.pitr = { ...input.databases!.app!.pitr, restoreDirectory: host.dir };
  return input;
}

/** Worker A runs as its own process (so that it can be killed); it polls once it says so. */
async function startWorkerA(): Promise<{ child: ResultPromise }> {
  const file = join(scratch, 'host-a.yaml');
  writeFileSync(file, stringify(inputFor(hostA)));
  const child = execa(process.execPath, [CLI, '--config', file, 'worker'], { env: process.env, reject: false, all: true, buffer: false });
  await new Promise<void>((resolve, reject) => {
    let seen = '';
    child.all!.on('data', (chunk: Buffer) => {
      seen += chunk.toString();
      if (/pgwarden worker: task queue/.test(seen)) resolve();
    });
    child.once('exit', () => reject(new Error(`worker A exited: ${seen}`)));
  });
  return { child }; // not the process itself: awaiting that would wait for it to exit
}

before(async () => {
  stack = await startStack();
  source = await startArchivingCluster(stack, 'app');
  await source.pg.query('postgres', 'CREATE TABLE t AS SELECT g AS id, md5(g::text) AS v FROM generate_series(1, 200000) g');
  workerB = await stack.worker(testConfig(inputFor(hostB)));
  await waitFor(await startBaseBackup(stack.env.client, source.config, { database: 'app' }));
  await source.pg.query('postgres', 'SELECT pg_switch_wal()');
});

after(async () => {
  workerA?.child.kill('SIGKILL');
  const user = await clusterUser('pgwarden');
  for (const dir of [hostA.dir, hostB.dir].filter(existsSync)) {
    for (const name of readdirSync(dir)) {
      await new LocalCluster({ dataDir: join(dir, name), binDir: serverBinDir(), port: 0, ...(user ? { user } : {}) }).stop('immediate').catch(() => undefined);
    }
  }
  await source?.pg.stop();
  await stack?.stop();
  rmSync(scratch, { recursive: true, force: true }); // the hosts' data directories
});

interface StepRun {
  type: string;
  taskQueue: string;
  datadir?: string;
  identity?: string;
}

/** Every activity of a run: its type, task queue, the data directory it worked on, and which worker started it. */
async function stepsOf(result: { workflowId: string; runId: string }): Promise<StepRun[]> {
  const history = await stack.env.client.workflow.getHandle(result.workflowId, result.runId).fetchHistory();
  const scheduled = new Map<string, StepRun>();
  for (const event of history.events ?? []) {
    const s = event.activityTaskScheduledEventAttributes;
    if (s) {
      const input = s.input?.payloads?.[0] ? defaultPayloadConverter.fromPayload<{ datadir?: string }>(s.input.payloads[0]) : undefined;
      scheduled.set(String(event.eventId), { type: s.activityType!.name!, taskQueue: s.taskQueue!.name!, ...(input?.datadir ? { datadir: input.datadir } : {}) });
    }
    const started = event.activityTaskStartedEventAttributes;
    if (started) scheduled.get(String(started.scheduledEventId))!.identity = started.identity ?? undefined;
  }
  return [...scheduled.values()];
}

describe('a point-in-time restore with two workers', () => {
  test('a worker killed mid-restore: no step moves to the other worker; the restore starts over there and the first one cleans up when back', async () => {
    await workerB!.stop(); // worker A alone takes the restore
    workerA = await startWorkerA();
    const identityA = `${workerA.child.pid}@`;
    const handle = await startPitr(stack.env.client, source.config, { database: 'app', target: 'latest' });
    // Kill worker A as soon as it has begun making the data directory on its disk.
    for (let i = 0; !(existsSync(hostA.dir) && readdirSync(hostA.dir).length > 0); i += 1) {
      if (i > 600) throw new Error('worker A never started the restore');
      await new Promise((r) => setTimeout(r, 50));
    }
    const leftOnA = join(hostA.dir, readdirSync(hostA.dir)[0]!);
    workerA.child.kill('SIGKILL');
    await workerA.child;
    workerB = await stack.worker(testConfig(inputFor(hostB)));

    const result = await waitFor<PitrResult>(handle);
    assert.ok(result.datadir.startsWith(hostB.dir), `restored on worker B's disk: ${result.datadir}`);
    assert.deepEqual(result.leftBehind?.map((l) => l.datadir), [leftOnA], 'the result names what worker A left');

    // Every step on A's data directory was sent to A's host queue (and only A ever ran one); B ran only its own.
    const steps = await stepsOf(result);
    const forA = steps.filter((s) => s.datadir?.startsWith(hostA.dir));
    assert.ok(forA.length > 0, JSON.stringify(steps));
    for (const step of forA) {
      assert.equal(step.taskQueue, hostA.queue, `${step.type} on A's data directory was sent to ${step.taskQueue}`);
      if (step.identity) assert.ok(step.identity.startsWith(identityA), `${step.type} on A's data directory ran on ${step.identity}, not on worker A`);
    }
    const ranOnB = steps.filter((s) => s.identity && !s.identity.startsWith(identityA) && s.type !== 'pitrHost');
    assert.ok(ranOnB.length >= 4, JSON.stringify(steps));
    for (const step of ranOnB) assert.ok(!step.datadir || step.datadir.startsWith(hostB.dir), `worker B ran ${step.type} on ${step.datadir}`);
    assert.ok(existsSync(leftOnA), 'worker A is gone: nothing could remove its data directory yet');

    // Worker A comes back: the restore's clean-up, waiting on its host's queue, removes what it left.
    workerA = await startWorkerA();
    for (let i = 0; existsSync(leftOnA); i += 1) {
      if (i > 300) throw new Error(`${leftOnA} was not removed when worker A came back`);
      await new Promise((r) => setTimeout(r, 100));
    }
  });

  test('a worker killed while its server recovers, with --port: the new attempt removes the server it left on this machine, takes that port, and the RTO counts from the first attempt', async () => {
    await workerB?.stop();
    workerA?.child.kill('SIGKILL');
    await workerA?.child;
    workerA = await startWorkerA(); // worker A alone takes the restore
    // WAL for recovery to replay (a few segments), so that A's server is caught recovering.
    await source.pg.query('postgres', 'CREATE TABLE t2 AS SELECT g AS id, md5(g::text) AS v FROM generate_series(1, 1000000) g');
    await source.pg.query('postgres', 'SELECT pg_switch_wal()');
    const before = new Set(existsSync(hostA.dir) ? readdirSync(hostA.dir) : []);
    const port = await freePort();
    const startedAt = Date.now();
    const handle = await startPitr(stack.env.client, source.config, { database: 'app', target: 'latest', port });
    let leftOnA: string | undefined;
    for (let i = 0; !(leftOnA && existsSync(join(leftOnA, 'postmaster.pid'))); i += 1) {
      if (i > 2400) throw new Error("worker A's server never started");
      leftOnA = (existsSync(hostA.dir) ? readdirSync(hostA.dir) : []).filter((name) => !before.has(name)).map((name) => join(hostA.dir, name))[0];
      await new Promise((r) => setTimeout(r, 25));
    }
    workerA.child.kill('SIGKILL');
    await workerA.child;
    const killedAt = Date.now();
    const orphan = Number(readFileSync(join(leftOnA!, 'postmaster.pid'), 'utf8').split('\n')[0]);
    assert.doesNotThrow(() => process.kill(orphan, 0), "worker A's server outlives it, holding the port");
    workerB = await stack.worker(testConfig(inputFor(hostB)));

    const result = await waitFor<PitrResult>(handle);
    assert.equal(result.port, port, 'the port asked for');
    assert.ok(result.datadir.startsWith(hostB.dir), result.datadir);
    assert.equal(result.attempts, 2);
    assert.equal(result.leftBehind, undefined, 'nothing is left behind: it was on this machine, and removed');
    assert.equal(existsSync(leftOnA!), false, `${leftOnA} removed`);
    assert.throws(() => process.kill(orphan, 0), "worker A's server stopped");
    // Measured from the first attempt: at least the time until the kill, plus the 30 s without heartbeats.
    assert.ok(result.durationMs >= killedAt - startedAt + 30_000, `${result.durationMs} ms reported; killed ${killedAt - startedAt} ms after the start`);
    if (result.rtoMs !== undefined) assert.equal(result.withinRto, result.durationMs <= result.rtoMs, "judged on the whole time");
    const copy = new pg.Client({ connectionString: `postgresql://${SUPERUSER}:${encodeURIComponent(source.pg.password)}@127.0.0.1:${result.port}/postgres` });
    await copy.connect();
    try {
      assert.equal((await copy.query<{ n: string }>('SELECT count(*) AS n FROM t2')).rows[0]!.n, '1000000', 'the copy holds the rows written before the restore');
    } finally {
      await copy.end();
    }

    // The lost host was given up at once: its clean-up was not first waited for on its queue (that doubled the
    // wait); what it left was removed by worker B, on this machine.
    const steps = await stepsOf(result);
    assert.deepEqual(steps.filter((step) => step.type === 'discardRestoredCluster').map((step) => [step.taskQueue, step.datadir]), [[hostB.queue, leftOnA]]);
  });
});
