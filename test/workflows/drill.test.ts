// The restore drill's verdicts and the alerts they raise, with stub activities and a fake restore: what the
// drill decides from a restore's result (RTO, RPO, row counts, assertions, clean-up), in seconds.
import { after, before, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Worker } from '@temporalio/worker';
import type { DrillPlan } from '../../activities/drill/index.js';
import type { AlertObservation } from '../../domain/alerts.js';
import type { DrillResult } from '../../domain/verify.js';
import { waitFor } from '../../client/watch.js';
import { startTemporal } from '../harness/temporal.js';
import { stubWorker, type Call } from './stubs.js';

const taskQueue = `drill-${process.pid}`;
let env: TestWorkflowEnvironment;
let worker: Worker;
let running: Promise<void>;
const stubs: { current: Record<string, (input: never) => unknown> } = { current: {} };
const calls: Call[] = [];
let delivered: Promise<AlertObservation[]>;

before(async () => {
  env = await startTemporal();
  const names = ['planDrill', 'checkDrill', 'dropDrillDatabase', 'recordDrill', 'fakeChild', 'alertThresholds', 'recordAlerts', 'deliverAlert', 'pingHealthcheck', 'backupFacts'];
  worker = await stubWorker(env, taskQueue, names, stubs, calls);
  running = worker.run();
});

after(async () => {
  worker?.shutdown();
  await running;
  await env?.teardown();
});

const HOUR = 3_600_000;

/** Stubs for a drill of `shop` whose restore returns `restore` (or fails with it) and whose checks say `assertions`. */
function drillOf(restore: object | Error, assertions = [{ name: 'orders exist', passed: true, detail: '3 rows' }], drop: () => unknown = () => ({ dropped: true })): void {
  calls.length = 0;
  const plan: DrillPlan = { server: '127.0.0.1:5432', target: 'shop_pgwdrill_x', backupId: 'b1', backupStartedAt: new Date(Date.now() - HOUR).toISOString(), pitr: false, rtoMs: 10 * 60_000, rpoMs: 26 * HOUR, swept: [] };
  let observed: (o: AlertObservation[]) => void;
  delivered = new Promise((resolve) => (observed = resolve));
  stubs.current = {
    planDrill: () => plan,
    fakeChild: () => {
      if (restore instanceof Error) throw ApplicationFailure.nonRetryable(restore.message, 'Failed');
      return { database: 'shop', target: plan.target, tables: 3, rows: 30, durationMs: 60_000, rowCountsMatch: true, ...restore };
    },
    checkDrill: () => ({ assertions }),
    dropDrillDatabase: drop,
    recordDrill: () => undefined,
    alertThresholds: () => ({ severity: {}, reminderMs: HOUR, pings: false }),
    pingHealthcheck: () => ({ sent: false }),
    recordAlerts: ((input: { observations: AlertObservation[] }) => (observed(input.observations), { notifications: [], channels: [] })) as never,
  };
}

function drill(): Promise<DrillResult> {
  return env.client.workflow.execute('drillWorkflow', { taskQueue, workflowId: `pgwarden-drill-shop-${Math.random().toString(36).slice(2)}`, args: [{ database: 'shop' }] });
}

/** The drill's failure: its type and the result it carries. */
async function failed(run: Promise<unknown>): Promise<{ type: string; message: string; result: DrillResult }> {
  const error = await run.then(() => assert.fail('the drill passed'), (e: unknown) => e);
  assert.ok(error instanceof WorkflowFailedError, String(error));
  const cause = error.cause as ApplicationFailure;
  return { type: cause.type!, message: cause.message, result: cause.details![0] as DrillResult };
}

const called = (activity: string) => calls.filter((c) => c.activity === activity).map((c) => c.input);

describe('restore drill verdicts', () => {
  beforeEach(() => (stubs.current = {}));

  it('passes within RTO and RPO with matching rows and assertions, drops the drill database and clears the alert', async () => {
    drillOf({});
    const result = await drill();
    assert.equal(result.passed, true);
    assert.deepEqual(result.failures, []);
    const [part] = result.parts;
    assert.deepEqual([part!.withinRto, part!.withinRpo, part!.rowCountsMatch, part!.cleanedUp], [true, true, true, true]);
    assert.deepEqual(called('dropDrillDatabase'), [{ database: 'shop', target: 'shop_pgwdrill_x' }]);
    assert.equal((called('recordDrill')[0] as DrillResult).passed, true, 'the verdict is recorded');
    const observations = await delivered;
    assert.deepEqual(observations.map((o) => [o.rule, o.firing]), [['drill-failed', false]]);
  });

  it('fails (not as an integrity failure) when the restore takes longer than the RTO, and alerts', async () => {
    drillOf({ durationMs: 11 * 60_000 });
    const { type, message, result } = await failed(drill());
    assert.equal(type, 'Failed');
    assert.match(message, /took 11m, over the RTO of 10m/);
    assert.equal(result.parts[0]!.withinRto, false);
    assert.equal(result.parts[0]!.cleanedUp, true);
    const observations = await delivered;
    assert.deepEqual(observations.map((o) => [o.rule, o.firing]), [['drill-failed', true]]);
    assert.match(observations[0]!.summary, /over the RTO/);
  });

  it('is an integrity failure when row counts differ from the manifest or an assertion fails', async () => {
    drillOf({ rowCountsMatch: false });
    const rows = await failed(drill());
    assert.equal(rows.type, 'Integrity');
    assert.match(rows.message, /row counts differ from the manifest/);

    drillOf({}, [{ name: 'orders exist', passed: false, detail: '0 rows' }]);
    const assertion = await failed(drill());
    assert.equal(assertion.type, 'Integrity');
    assert.match(assertion.message, /assertion "orders exist" failed \(0 rows\)/);
  });

  it('fails when the data is older than the RPO', async () => {
    drillOf({});
    const plan = stubs.current.planDrill!;
    stubs.current.planDrill = () => ({ ...(plan(undefined as never) as DrillPlan), rpoMs: 30 * 60_000 });
    const { type, message } = await failed(drill());
    assert.equal(type, 'Failed');
    assert.match(message, /the data was 1h old, over the RPO of 30m/);
  });

  it('drops the drill database even when the restore fails, and reports the restore\'s error', async () => {
    drillOf(new Error('the backup is not there'));
    const { type, message, result } = await failed(drill());
    assert.equal(type, 'Failed');
    assert.match(message, /logical restore of b1: .*the backup is not there/);
    assert.equal(result.parts[0]!.cleanedUp, true);
    assert.equal(called('checkDrill').length, 0, 'nothing to check');
    assert.deepEqual(called('dropDrillDatabase'), [{ database: 'shop', target: 'shop_pgwdrill_x' }]);
  });

  it('fails when the drill database cannot be removed, naming the clean-up', async () => {
    drillOf({}, undefined, () => {
      throw ApplicationFailure.nonRetryable('permission denied to drop database', 'Failed');
    });
    const { message, result } = await failed(drill());
    assert.equal(result.parts[0]!.cleanedUp, false);
    assert.match(message, /clean-up failed: .*permission denied to drop database/);
  });
});

describe('following a run (client/watch.ts)', () => {
  it('polls a long run many times without gathering abort listeners, and returns its result', async () => {
    // The CLI asks for the run's description every second while it waits; a drill of an hour polls thousands of times.
    // Each poll used to add a listener to one shared signal: Node warned "MaxListenersExceededWarning" after ten.
    drillOf({});
    const child = stubs.current.fakeChild!;
    stubs.current.fakeChild = (async (input: never) => {
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      return child(input);
    }) as never;
    const warnings: string[] = [];
    const onWarning = (warning: Error) => warnings.push(`${warning.name}: ${warning.message}`);
    process.on('warning', onWarning);
    let polls = 0;
    try {
      const handle = await env.client.workflow.start('drillWorkflow', { taskQueue, workflowId: `pgwarden-drill-shop-${Math.random().toString(36).slice(2)}`, args: [{ database: 'shop' }] });
      const result = await waitFor<DrillResult>(handle, undefined, 20, () => (polls += 1));
      assert.equal(result.passed, true);
      await new Promise((resolve) => setImmediate(resolve)); // warnings are emitted on the next tick
    } finally {
      process.off('warning', onWarning);
    }
    assert.ok(polls >= 15, `the run was followed through ${polls} descriptions: too few to show a leak`);
    assert.deepEqual(warnings.filter((w) => /MaxListeners/.test(w)), []);
  });
});
