// The CLI while it waits on a workflow, as an on-call engineer meets it: it says when the workers Temporal lists
// are gone and when nothing has moved for a while; the first Ctrl-C or SIGTERM stops the waiting (the workflow
// goes on) and says how to follow or cancel it; a namespace without pgwarden's search attributes gets the fix.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { execa } from 'execa';
import { STALE_POLLER_MS } from '../../client/api.js';
import { findTool } from '../../client/demo/tools.js';
import { waitFor } from '../../client/watch.js';
import { EXIT_CODES } from '../../domain/errors.js';
import type { ConfigInput } from '../../config/schema.js';
import { backupWorkflowId } from '../../domain/ids.js';
import type { BackupResult } from '../../domain/backup.js';
import { CLI } from '../harness/archiving.js';
import { testConfig } from '../harness/config.js';
import { startSlowLink } from '../harness/slow-link.js';
import { startStack, type Stack } from '../harness/stack.js';
import { processEnvironment, startWorkerProcess, writeConfigFile, type WorkerProcess } from '../harness/worker-process.js';

let stack: Stack;
/** A task queue whose only worker was killed with -9 at the start: Temporal lists it for minutes. */
let deadQueue: { input: ConfigInput; file: string; worker: WorkerProcess };

before(async () => {
  stack = await startStack({ ownTemporal: true }); // reads the CLI's commands for the "default" namespace
  await stack.pg.query('postgres', 'CREATE DATABASE cartly');
  await stack.pg.query('cartly', "CREATE TABLE users (id serial PRIMARY KEY, email text); INSERT INTO users (email) SELECT 'u' || g || '@test.cartly.de' FROM generate_series(1, 100) g");
  // A database name of its own: what other tests leave running never holds its lock.
  const input = stack.configInput({ ledger: { db: 'cartly' } });
  const file = writeConfigFile(input);
  const worker = await startWorkerProcess(stack.env.client, input, file);
  await worker.stop('SIGKILL');
  deadQueue = { input, file, worker };
});

after(async () => {
  await stack?.stop();
});

interface Cli {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Until stderr matches `pattern`; fails if the process ends first or `withinMs` passes. */
  says(pattern: RegExp, withinMs: number): Promise<void>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** `pgwarden <args>` as a person or a script runs it: its own process, secrets in its environment. */
function cli(configFile: string, args: string[]): Cli {
  const child = spawn(process.execPath, [CLI, '--config', configFile, ...args], { env: processEnvironment(), stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (err += chunk.toString()));
  let ended = false;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => {
      ended = true;
      resolve({ code, signal });
    }),
  );
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    exited,
    says: async (pattern, withinMs) => {
      const deadline = Date.now() + withinMs;
      while (!pattern.test(err)) {
        if (ended) throw new Error(`pgwarden ${args.join(' ')} ended without saying ${pattern}:\n${err}${out}`);
        if (Date.now() > deadline) throw new Error(`pgwarden ${args.join(' ')} did not say ${pattern} within ${withinMs / 1000} s:\n${err}`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    },
  };
}

/** The process's end, or a failure if a signal did not end it (the Temporal runtime used to swallow the first). */
async function endsWithin(run: Cli, ms: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  const timer = new Promise<'still running'>((resolve) => setTimeout(() => resolve('still running'), ms).unref());
  const outcome = await Promise.race([run.exited, timer]);
  if (outcome === 'still running') {
    run.child.kill('SIGKILL');
    throw new Error(`the CLI was still waiting ${ms / 1000} s after the signal:\n${run.stderr()}`);
  }
  return outcome;
}

/** Ctrl-C, and -9 if that did not end it. */
async function interrupt(run: Cli): Promise<void> {
  run.child.kill('SIGINT');
  await endsWithin(run, 30_000).catch(() => undefined);
}

describe('a namespace without pgwarden\'s search attributes', () => {
  test('the CLI names the cause and the command that fixes it, and that command does', async () => {
    await execa(findTool('temporal'), ['operator', 'namespace', 'create', '--address', stack.env.address, '--namespace', 'bare']);
    const input = stack.configInput({ cartly: { db: 'cartly' } });
    const file = writeConfigFile({ ...input, temporal: { ...input.temporal, namespace: 'bare' } });

    const refused = await execa(process.execPath, [CLI, '--config', file, '--json', 'backup', '--db', 'cartly', '--no-wait'], { env: processEnvironment(), extendEnv: false, reject: false });
    assert.equal(refused.exitCode, EXIT_CODES.Config, refused.stderr);
    const message: string = JSON.parse(refused.stdout).error.message;
    assert.match(message, /namespace "bare" .* does not have pgwarden's search attributes \(.*PgwardenDatabase.*\)/);
    const command = /(temporal operator search-attribute create [^(]*?)\s+\(/.exec(message)?.[1];
    assert.ok(command, `the message gives the command: ${message}`);
    assert.match(command, /--address \S+ --namespace bare --name PgwardenDatabase --type Keyword --name PgwardenKind --type Keyword --name PgwardenOperation --type Keyword/);

    await execa(findTool('temporal'), command.split(' ').slice(1));
    const deadline = Date.now() + 30_000; // the namespace's new attributes reach every server role within moments
    let started;
    do started = await execa(process.execPath, [CLI, '--config', file, '--json', 'backup', '--db', 'cartly', '--no-wait'], { env: processEnvironment(), extendEnv: false, reject: false });
    while (started.exitCode === EXIT_CODES.Config && Date.now() < deadline);
    assert.equal(started.exitCode, 0, started.stderr);
    assert.equal(JSON.parse(started.stdout).result.workflowId, backupWorkflowId('cartly'));
  });
});

describe('the first Ctrl-C or SIGTERM to a waiting CLI', () => {
  test('stops waiting, leaves the workflow running, and says how to follow or cancel it', async () => {
    const input = stack.configInput({ cartly: { db: 'cartly' } });
    const file = writeConfigFile(input);

    // systemd or Kubernetes stopping a job that waits on a backup: one SIGTERM.
    const backup = cli(file, ['backup', '--db', 'cartly']);
    await backup.says(/Backup of cartly started: workflow pgwarden-backup-cartly/, 60_000);
    backup.child.kill('SIGTERM');
    const ended = await endsWithin(backup, 30_000);
    assert.equal(ended.signal, 'SIGTERM', `ends as stopped by SIGTERM (exit status 143 in a shell): ${JSON.stringify(ended)}`);
    assert.match(backup.stderr(), /stopped waiting \(SIGTERM\); the backup of cartly goes on in Temporal \(workflow pgwarden-backup-cartly\)/);
    assert.match(backup.stderr(), /follow it: +temporal workflow show --address \S+ --workflow-id pgwarden-backup-cartly --follow/);
    assert.match(backup.stderr(), /cancel it: +temporal workflow cancel --address \S+ --workflow-id pgwarden-backup-cartly/);
    const handle = stack.env.client.workflow.getHandle(backupWorkflowId('cartly'));
    assert.equal((await handle.describe()).status.name, 'RUNNING', 'the backup goes on');

    // Ctrl-C on a restore, from a script that reads --json.
    const restore = cli(file, ['--json', 'restore', '--db', 'cartly', '--backup', 'latest', '--into', 'cartly_copy']);
    await restore.says(/Restore of cartly \(latest\) into cartly_copy started/, 60_000);
    restore.child.kill('SIGINT');
    assert.equal((await endsWithin(restore, 30_000)).signal, 'SIGINT');
    const report = JSON.parse(restore.stdout());
    assert.deepEqual([report.ok, report.error.kind, report.error.exitCode], [false, 'Interrupted', 130]);
    const cancel = /cancel it: +(temporal workflow cancel .*?) {2,}/.exec(report.error.message)?.[1];
    assert.ok(cancel, report.error.message);
    await execa(findTool('temporal'), cancel.split(' ').slice(1));

    // Once a worker comes, the cancelled restore ends and the backup the CLI stopped waiting for finishes.
    await stack.worker(testConfig(input));
    await assert.rejects(waitFor(stack.env.client.workflow.getHandle('pgwarden-restore-cartly')), /cancel/i);
    const result = await waitFor<BackupResult>(handle);
    assert.equal(result.database, 'cartly');
  });
});

describe('a CLI waiting on a task queue whose worker died', () => {
  test('warns when nothing has moved for a while, naming the worker Temporal still lists', async () => {
    const backup = cli(deadQueue.file, ['backup', '--db', 'ledger']);
    try {
      await backup.says(/Backup of ledger started/, 60_000);
      assert.doesNotMatch(backup.stderr(), /warning/, 'just killed, the worker still looks alive');
      await backup.says(/warning: nothing has moved for 30 s in workflow pgwarden-backup-ledger/, 90_000);
      assert.match(backup.stderr(), /the workflow has waited \d+ s for a worker to pick it up/);
      assert.match(backup.stderr(), new RegExp(`workers on task queue "${deadQueue.input.temporal!.taskQueue}": ${deadQueue.worker.identity} \\(last seen \\d+ s ago`));
    } finally {
      await interrupt(backup);
    }
  });
});

// Here, between the two tests of the dead queue: it runs while the worker killed in before() ages towards
// STALE_POLLER_MS, which the next test waits for.
describe('a CLI waiting while its only worker is killed with -9 in the middle of a backup', () => {
  test('says so once the heartbeat has timed out, in the past tense, and that no worker is running', async () => {
    await stack.pg.query('postgres', 'CREATE DATABASE bulky');
    // About 3 MB of rows read at 300 kB/s: the dump is still running when the test kills its worker.
    await stack.pg.query('bulky', "CREATE TABLE t (id bigserial PRIMARY KEY, a text); INSERT INTO t (a) SELECT repeat(md5(g::text), 4) FROM generate_series(1, 20000) g");
    const link = await startSlowLink(stack.pg.url('bulky'), 300_000);
    const input = stack.configInput({ bulky: { db: 'bulky', url: link.through(stack.pg.url('bulky')) } });
    const file = writeConfigFile(input);
    const worker = await startWorkerProcess(stack.env.client, input, file);
    const backup = cli(file, ['backup', '--db', 'bulky']);
    try {
      const handle = stack.env.client.workflow.getHandle(backupWorkflowId('bulky'));
      for (;;) {
        const description = await handle.describe().catch(() => undefined);
        if (description?.raw.pendingActivities?.some((a) => a.activityType?.name === 'dumpLogical' && a.heartbeatDetails?.payloads?.length)) break;
        assert.equal(backup.child.exitCode, null, backup.stderr());
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      await worker.stop('SIGKILL');
      // pgwarden's warnings start "warning: "; Node's own (the AWS SDK's notice about Node 20) do not.
      await backup.says(/warning: /, 120_000);
      const first = backup.stderr().slice(backup.stderr().indexOf('warning: '));
      // The first warning comes from the heartbeat's timeout, not from 30 s of quiet after it; it says what happened.
      assert.match(first, /^warning: in workflow pgwarden-backup-bulky, the heartbeat of dumpLogical timed out: worker \S+ was last heard from \d+ s ago/, first);
      assert.ok(first.includes(worker.identity), first);
      assert.doesNotMatch(first, /once its heartbeat times out|will time out/);
      await backup.says(/No worker is running/, 180_000);
    } finally {
      await interrupt(backup);
      await link.stop();
    }
  });
});

describe('a CLI waiting on a task queue whose worker died long ago', () => {
  test('says at once that the workers Temporal lists stopped polling, once they have been silent too long', async () => {
    // Temporal lists a dead worker for about five minutes; past STALE_POLLER_MS of silence, it is gone.
    for (;;) {
      const response = await stack.env.client.workflowService.describeTaskQueue({
        namespace: 'default',
        taskQueue: { name: deadQueue.input.temporal!.taskQueue!, kind: 1 },
        taskQueueType: 1,
      });
      const dead = response.pollers?.find((p) => p.identity === deadQueue.worker.identity);
      assert.ok(dead, 'Temporal still lists the dead worker');
      if (Date.now() - Number(dead.lastAccessTime!.seconds) * 1000 > STALE_POLLER_MS + 1_000) break;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    const expire = cli(deadQueue.file, ['expire', '--db', 'ledger']);
    try {
      await expire.says(new RegExp(`warning: the worker Temporal still lists \\(${deadQueue.worker.identity}, last seen \\d+ s ago\\) stopped polling task queue`), 60_000);
      assert.match(expire.stderr(), /Start one with `pgwarden worker`/);
    } finally {
      await interrupt(expire);
    }
  });
});
