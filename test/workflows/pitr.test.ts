// The point-in-time restore's lost-host rule with stub activities: every step after the first runs on one host's
// task queue; a host that does not take its step within its wait makes the restore start over on another
// worker, at most three times; a host lost after it made a data directory is given up at once (its clean-up
// detached, not waited for), and a new attempt on the same machine with a user-chosen port removes what it left.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ActivityFailure, TimeoutFailure, WorkflowFailedError } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Worker } from '@temporalio/worker';
import type { PitrResult } from '../../domain/pitr.js';
import { pitrWorkflowId } from '../../domain/ids.js';
import { lockActivities } from '../../activities/lock.js';
import { startTemporal } from '../harness/temporal.js';
import { stubWorker, type Call } from './stubs.js';

const taskQueue = `pitr-${process.pid}`;
/** Polled by a worker with the host's activities; "gone" by none. */
const here = `${taskQueue}-host-here`;
const gone = `${taskQueue}-host-gone`;
/** Polled by a worker that goes away half-way (the last test). */
const lost = `${taskQueue}-host-lost`;
let env: TestWorkflowEnvironment;
const workers: Worker[] = [];
const runs: Promise<void>[] = [];
const calls: Call[] = [];
let hosts: { host: string; taskQueue: string; waitMs: number }[] = [];

const PLAN = {
  baseBackupId: 'base-1',
  datadir: '/restores/app',
  port: 6543,
  serverMajor: 15,
  stage: '/restores/.stage',
  settings: {},
  target: { kind: 'latest' },
  targetDescription: 'latest',
  timeline: 1,
  timelineReason: 'the current timeline',
  segments: [],
  connectAs: { user: 'app', database: 'app' },
  notes: [],
  window: { from: '2026-12-01T00:00:00Z', to: '2026-12-02T00:00:00Z' },
};

const stubs = {
  current: {
    pitrHost: () => hosts.shift() ?? assert.fail('no host left'),
    holdBackups: () => ({ lease: 'l1' }),
    releaseBackups: () => undefined,
    planPitr: () => PLAN,
    restoreBaseBackup: () => ({ restoreMs: 10 }),
    configureRecovery: () => undefined,
    recoverCluster: () => ({ recoveryMs: 20, segmentsRestored: 3 }),
    verifyRestoredCluster: () => ({ timeline: 1, reachedLsn: '0/3000028' }),
    discardRestoredCluster: () => ({ removed: true }),
    lockReleased: (input: { lockId: string }) => lockActivities().lockReleased(input), // the real one: it asks Temporal
  } as Record<string, (input: never) => unknown>,
};

const shared = ['pitrHost', 'holdBackups', 'releaseBackups', 'lockReleased'];
const onHost = ['planPitr', 'restoreBaseBackup', 'configureRecovery', 'recoverCluster', 'verifyRestoredCluster', 'discardRestoredCluster'];
const STUBS = { ...stubs.current };

before(async () => {
  env = await startTemporal();
  workers.push(await stubWorker(env, taskQueue, shared, stubs, calls), await stubWorker(env, here, onHost, stubs, calls, false));
  runs.push(...workers.map((w) => w.run()));
});

after(async () => {
  for (const w of workers) w.shutdown();
  await Promise.all(runs);
  await env?.teardown();
});

const pitr = (workflowId: string, extra: { port?: number } = {}) =>
  env.client.workflow.execute<() => Promise<PitrResult>>('pitrWorkflow', { taskQueue, workflowId, args: [{ database: 'app', target: 'latest', ...extra }] as never });
const queueName = (queue: string) => (queue === here ? 'here' : queue === gone ? 'gone' : queue === lost ? 'lost' : 'shared');
const stepsOf = () => calls.filter((c) => (c.input as { database?: string } | undefined) !== undefined && c.activity !== 'pitrHost').map((c) => `${c.activity}@${queueName(c.taskQueue)}`);
/** Every step of an attempt that succeeds on the host "here". */
const ALL_HERE = ['planPitr@here', 'holdBackups@shared', 'restoreBaseBackup@here', 'configureRecovery@here', 'recoverCluster@here', 'verifyRestoredCluster@here', 'releaseBackups@shared'];

describe('a point-in-time restore whose host stops answering', () => {
  it('starts over on the next worker\'s host, which does every step', async () => {
    calls.length = 0;
    hosts = [
      { host: 'gone-host', taskQueue: gone, waitMs: 1_000 },
      { host: 'here-host', taskQueue: here, waitMs: 60_000 },
    ];
    const result = await pitr('pgwarden-pitr-app-1');
    assert.equal(result.hostTaskQueue, here);
    assert.equal(result.baseBackupId, 'base-1');
    assert.equal(calls.filter((c) => c.activity === 'pitrHost').length, 2, 'asked for a host twice');
    assert.deepEqual(stepsOf(), ALL_HERE);
    assert.equal(result.leftBehind, undefined, 'the lost host had not started: nothing of it to remove');
  });

  it('gives up after three hosts, with the wait that ran out as the reason', async () => {
    calls.length = 0;
    hosts = [1, 2, 3].map((n) => ({ host: `gone-${n}`, taskQueue: gone, waitMs: 1_000 }));
    const error = await pitr('pgwarden-pitr-app-2').then(() => assert.fail('the restore succeeded'), (e: unknown) => e);
    assert.ok(error instanceof WorkflowFailedError, String(error));
    assert.ok(error.cause instanceof ActivityFailure, String(error.cause));
    assert.ok(error.cause.cause instanceof TimeoutFailure && error.cause.cause.timeoutType === 'SCHEDULE_TO_START', String(error.cause.cause));
    assert.equal(calls.filter((c) => c.activity === 'pitrHost').length, 3);
    assert.deepEqual(stepsOf(), [], 'no step ran anywhere');
  });

  it('a host lost after it made the data directory is given up at once; with --port, the next attempt on its machine removes what it left first, and the time counts from the first attempt', async () => {
    calls.length = 0;
    const hostLost = await stubWorker(env, lost, onHost, stubs, calls, false);
    const lostRun = hostLost.run();
    const queueOfLastCall = () => calls.at(-1)!.taskQueue;
    stubs.current = {
      ...STUBS,
      planPitr: () => ({ ...PLAN, datadir: queueOfLastCall() === lost ? '/restores/app-lost' : '/restores/app' }),
      // The lost host's worker goes away once it has restored the base backup: its next step is never taken.
      restoreBaseBackup: () => {
        if (queueOfLastCall() === lost) hostLost.shutdown();
        return { restoreMs: 10 };
      },
    };
    hosts = [
      { host: 'db-1', taskQueue: lost, waitMs: 1_000 },
      { host: 'db-1', taskQueue: here, waitMs: 60_000 },
    ];
    try {
      const result = await pitr('pgwarden-pitr-app-3', { port: 6543 });
      await lostRun;
      // The lost attempt, then the removal of what it left, then a whole attempt on the next host.
      assert.deepEqual(stepsOf(), ['planPitr@lost', 'holdBackups@shared', 'restoreBaseBackup@lost', 'releaseBackups@shared', 'discardRestoredCluster@here', ...ALL_HERE]);
      assert.deepEqual(calls.find((c) => c.activity === 'discardRestoredCluster')!.input, { datadir: '/restores/app-lost', serverMajor: 15 });
      assert.equal(result.leftBehind, undefined, 'removed by the next attempt on the same machine');
      assert.equal(result.attempts, 2);
      assert.ok(result.durationMs >= 1_000, `${result.durationMs} ms: the lost attempt and the wait for its host count`);

      // Given up at once: no clean-up was scheduled on the lost host's queue (a second wait for it), only detached.
      const history = await env.client.workflow.getHandle('pgwarden-pitr-app-3').fetchHistory();
      const scheduled = (history.events ?? []).flatMap((e) => (e.activityTaskScheduledEventAttributes ? [`${e.activityTaskScheduledEventAttributes.activityType!.name}@${e.activityTaskScheduledEventAttributes.taskQueue!.name}`] : []));
      assert.ok(!scheduled.includes(`discardRestoredCluster@${lost}`), scheduled.join(', '));
      const children = (history.events ?? []).flatMap((e) => (e.startChildWorkflowExecutionInitiatedEventAttributes ? [e.startChildWorkflowExecutionInitiatedEventAttributes] : []));
      const cleanUp = children.find((child) => child.workflowType?.name === 'discardWhenBackWorkflow');
      assert.ok(cleanUp, `a detached clean-up was started: ${children.map((c) => c.workflowType?.name).join(', ')}`);
      let status = '';
      for (let i = 0; i < 100 && status !== 'CANCELLED'; i += 1) {
        status = (await env.client.workflow.getHandle(cleanUp!.workflowId!).describe()).status.name;
        if (status !== 'CANCELLED') await new Promise((r) => setTimeout(r, 100));
      }
      assert.equal(status, 'CANCELLED', 'the detached clean-up was called off: nothing is left for it');
    } finally {
      stubs.current = STUBS;
    }
  });
});

describe('the database lock of a run started from the UI (any workflow id)', () => {
  const lockId = pitrWorkflowId('app');
  const random = () => Math.random().toString(36).slice(2);
  /** The restore before held this lock with a child, which Temporal removes a moment after that restore closed. */
  const lockGone = async () => {
    for (let i = 0; i < 100; i += 1) {
      const lock = await env.client.workflow.getHandle(lockId).describe().catch(() => undefined);
      if (lock?.status.name !== 'RUNNING') return;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.fail(`lock ${lockId} was not removed after its holder closed`);
  };

  it('taken the moment after its holder ended, waits for Temporal to remove that lock, then runs', async () => {
    calls.length = 0;
    await lockGone();
    await env.client.workflow.execute('endedHolderWorkflow', { taskQueue, workflowId: `ended-${random()}`, args: [lockId] });
    // Temporal's own removal comes within moments of the holder's close; here the test makes it come 1.5 s later.
    const removal = new Promise((resolve) => setTimeout(resolve, 1_500)).then(() => env.client.workflow.getHandle(lockId).terminate('its holder has ended'));
    hosts = [{ host: 'here-host', taskQueue: here, waitMs: 60_000 }];
    const result = await pitr(`from-the-ui-${random()}`);
    await removal;
    assert.equal(result.hostTaskQueue, here);
    assert.deepEqual(stepsOf(), ['lockReleased@shared', ...ALL_HERE], 'the restore ran, not refused');
    assert.equal(calls.filter((c) => c.activity === 'lockReleased').length, 1);
  });

  it('held by a run that has not ended, refuses at once, naming the lock', async () => {
    calls.length = 0;
    await lockGone();
    const holder = await env.client.workflow.start('databaseLockWorkflow', {
      taskQueue,
      workflowId: lockId,
      args: [{ database: 'app', operation: 'pitr', holder: { workflowId: 'pgwarden-pitr-app', runId: 'r', workflowType: 'pitrWorkflow' } }],
    });
    try {
      const error = await pitr(`from-the-ui-${random()}`).then(() => assert.fail('the restore ran beside the lock'), (e: unknown) => e);
      assert.ok(error instanceof WorkflowFailedError, String(error));
      assert.match(String(error.cause?.message), /A point-in-time restore of "app" is already running \(workflow pgwarden-pitr-app\)/);
      assert.deepEqual(stepsOf(), ['lockReleased@shared'], 'nothing was done but asking whether the lock is being released');
    } finally {
      await holder.terminate('test over');
    }
  });
});
