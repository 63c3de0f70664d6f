// The CLI and the figures it shows when Temporal goes away while a command waits: a short outage is ridden out,
// a long one ends the waiting with exit 7 (Unavailable) saying the job goes on; a dump finished while Temporal was
// down still reports its own duration.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { EXIT_CODES } from '../../domain/errors.js';
import type { ConfigInput } from '../../config/schema.js';
import type { BackupResult } from '../../domain/backup.js';
import { backupWorkflowId } from '../../domain/ids.js';
import { waitFor } from '../../client/watch.js';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createActivities } from '../../activities/index.js';
import type { DumpLogicalOutput } from '../../activities/backup/inputs.js';
import { CLI } from '../harness/archiving.js';
import { testConfig } from '../harness/config.js';
import { startSlowLink, type SlowLink } from '../harness/slow-link.js';
import { startStack, type Stack } from '../harness/stack.js';
import { startRestartableTemporal, type RestartableTemporal } from '../harness/temporal-restartable.js';
import { processEnvironment, startWorkerProcess, writeConfigFile, type WorkerProcess } from '../harness/worker-process.js';

let stack: Stack;
let temporal: RestartableTemporal;
/** The ledger database across a slow link: its dump takes seconds, long enough to stop Temporal in its middle. */
let ledgerLink: SlowLink;
const workers: WorkerProcess[] = [];

before(async () => {
  // The CLI and workers talk to the restartable server, in its default namespace (configFor), not the stack's.
  // Both kept as soon as each is up: if the other fails, after() still stops this one (else the file never exits).
  const [ownStack, restartable] = await Promise.allSettled([startStack(), startRestartableTemporal()]);
  if (ownStack.status === 'fulfilled') stack = ownStack.value;
  if (restartable.status === 'fulfilled') temporal = restartable.value;
  for (const started of [ownStack, restartable]) if (started.status === 'rejected') throw started.reason;
  await stack.pg.query('postgres', 'CREATE DATABASE ledger');
  // About 3 MB of rows read at 300 kB/s: the dump is still running when the test stops Temporal a second into it,
  // and done well within the 20 s that Temporal stays down.
  await stack.pg.query('ledger', "CREATE TABLE entries (id bigserial PRIMARY KEY, memo text, sum text); INSERT INTO entries (memo, sum) SELECT md5(g::text) || md5((g * 7)::text), md5((g * 3)::text) FROM generate_series(1, 30000) g");
  ledgerLink = await startSlowLink(stack.pg.url('ledger'), 300_000);
  await stack.pg.query('postgres', 'CREATE DATABASE shop');
  await stack.pg.query('shop', "CREATE TABLE items (id serial PRIMARY KEY, name text); INSERT INTO items (name) SELECT 'item ' || g FROM generate_series(1, 100) g");
});

after(async () => {
  await Promise.all(workers.map((w) => w.stop('SIGKILL')));
  await temporal?.teardown();
  await ledgerLink?.stop();
  await stack?.stop();
});

interface Cli {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function cli(configFile: string, args: string[]): Cli {
  const child = spawn(process.execPath, [CLI, '--config', configFile, ...args], { env: processEnvironment(), stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (err += chunk.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  return { child, stdout: () => out, stderr: () => err, exited };
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function configFor(database: string): { input: ConfigInput; file: string } {
  const url = database === 'ledger' ? ledgerLink.through(stack.pg.url(database)) : undefined;
  const base = stack.configInput({ [database]: { db: database, repositories: ['local'], ...(url ? { url } : {}) } });
  const input = { ...base, temporal: { ...base.temporal!, address: temporal.address, namespace: 'default' } };
  return { input, file: writeConfigFile(input) };
}

async function startWorker(input: ConfigInput, file: string): Promise<WorkerProcess> {
  const worker = await startWorkerProcess(temporal.client, input, file);
  workers.push(worker);
  return worker;
}

describe('Temporal restarted while the CLI waits on a backup', () => {
  test('the CLI rides it out, and the result gives the dump activity\'s own duration', async () => {
    const { input, file } = configFor('ledger');
    await startWorker(input, file);
    const backup = cli(file, ['--json', 'backup', '--db', 'ledger']);
    const handle = temporal.client.workflow.getHandle(backupWorkflowId('ledger'));
    // Until the dump has run for a while: stop Temporal in its middle.
    let running: { startedMs: number; seenMs: number } | undefined;
    while (!running) {
      const description = await handle.describe().catch(() => undefined);
      const dump = description?.raw.pendingActivities?.find((a) => a.activityType?.name === 'dumpLogical' && a.heartbeatDetails?.payloads?.length);
      const startedMs = Number(dump?.lastStartedTime?.seconds ?? 0) * 1000;
      if (dump && startedMs > 0 && Date.now() - startedMs > 1_000) running = { startedMs, seenMs: Date.now() };
      else if (backup.child.exitCode !== null) assert.fail(`the CLI ended before the dump ran:\n${backup.stderr()}${backup.stdout()}`);
      else await pause(100);
    }
    await temporal.stop();
    await pause(20_000); // the dump ends meanwhile; its worker cannot report it
    await temporal.start();
    const cliAfterRestart = backup.child.exitCode === null ? 'still waiting' : `ended with exit ${backup.child.exitCode}`;

    const result = await waitFor<BackupResult>(handle);
    const ended = await backup.exited;
    // What a restart does when the dump's completion is lost: the retried attempt finds the manifest and returns.
    const retried: DumpLogicalOutput = await new MockActivityEnvironment().run(createActivities(testConfig(input)).dumpLogical, {
      database: 'ledger',
      backupId: result.backupId,
      kind: result.kind,
      workflow: { namespace: 'default', workflowId: result.workflowId, runId: result.runId, startedAtMs: Date.parse(result.startedAt) },
    });
    // The checks reported together: each is its own defect. reported together: each is its own defect.
    assert.deepEqual(
      {
        cliAfterRestart,
        dumpMsCoversWhatWasSeen: result.dumpMs >= running.seenMs - running.startedMs,
        retriedDumpMsCoversWhatWasSeen: retried.dumpMs >= running.seenMs - running.startedMs,
      },
      { cliAfterRestart: 'still waiting', dumpMsCoversWhatWasSeen: true, retriedDumpMsCoversWhatWasSeen: true },
      `dumpMs ${result.dumpMs}, of the retried attempt ${retried.dumpMs}, the dump was seen running ${running.seenMs - running.startedMs} ms; the CLI:\n${backup.stderr()}${backup.stdout()}`,
    );
    assert.equal(ended.code, 0, `the CLI waited through the restart:\n${backup.stderr()}${backup.stdout()}`);
    const report = JSON.parse(backup.stdout());
    assert.equal(report.result.backupId, result.backupId);
  });
});

describe('Temporal down for longer than the CLI waits', () => {
  test('the CLI ends with exit 7, saying the job goes on and how to follow it; the job does', async () => {
    const { input: shop } = configFor('shop');
    // The CLI gives up on Temporal after 15 s here (60 s unless told: temporal.outageWait).
    const input = { ...shop, temporal: { ...shop.temporal!, outageWait: '15s' } };
    const file = writeConfigFile(input);
    const backup = cli(file, ['backup', '--db', 'shop']); // no worker yet: the backup waits in Temporal
    while (!/Backup of shop started/.test(backup.stderr())) {
      assert.equal(backup.child.exitCode, null, backup.stderr());
      await pause(100);
    }
    await temporal.stop();
    const ended = await backup.exited;
    await temporal.start();
    assert.equal(ended.code, EXIT_CODES.Unavailable, backup.stderr());
    assert.match(backup.stderr(), /Temporal could not be reached for \d+ s while waiting for workflow pgwarden-backup-shop/);
    assert.match(backup.stderr(), /the backup of shop goes on in Temporal \(workflow pgwarden-backup-shop\)/);
    assert.match(backup.stderr(), new RegExp(`follow it: +temporal workflow show --address ${temporal.address} --workflow-id pgwarden-backup-shop --follow`));

    await startWorker(input, file);
    const result = await waitFor<BackupResult>(temporal.client.workflow.getHandle(backupWorkflowId('shop')));
    assert.equal(result.database, 'shop');
  });
});

describe('figures that say what was set', () => {
  test('a one-minute retention reads "kept 1 minute", not "kept 0 days"', async () => {
    await stack.pg.query('postgres', 'CREATE DATABASE figures');
    const { input } = configFor('figures');
    const config = testConfig({ ...input, retention: { manual: '1m' } } as ConfigInput);
    const activities = createActivities(config);
    for (const backupId of ['figures-1', 'figures-2']) {
      await new MockActivityEnvironment().run(activities.dumpLogical, {
        database: 'figures',
        backupId,
        kind: 'manual' as const,
        workflow: { namespace: 'default', workflowId: 'figures-test', runId: 'figures-test', startedAtMs: Date.now() },
      });
    }
    const plan = await activities.planExpiry({ database: 'figures', nowMs: Date.now() + 2 * 60_000 });
    assert.deepEqual(plan.logical.map((l) => [l.id, l.rule]), [['figures-1', 'manual backups are kept 1 minute']]);
  });
});
