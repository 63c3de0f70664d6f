// The keep-alive heartbeat: every activity heartbeats while it runs, except while one of its transfers has moved no
// byte for the stall limit, so that Temporal's heartbeat timeout ends a hung step instead of the 24 h limit.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MockActivityEnvironment } from '@temporalio/testing';
import { currentReporter, keepAlive, watchTransfer } from '../../activities/progress.js';

const SECOND = 1_000;

test('a transfer that moves no byte for the stall limit stops every heartbeat, and they come back when it moves again', async (t) => {
  t.mock.timers.enable({ apis: ['setInterval', 'Date'], now: 0 });
  const env = new MockActivityEnvironment();
  let beats = 0;
  env.on('heartbeat', () => (beats += 1));
  await env.run(async () => {
    const stop = keepAlive(SECOND, 60 * SECOND);
    let bytes = 0;
    const unwatch = watchTransfer(() => bytes);
    const reporter = currentReporter();
    /** Beats during `seconds` of the clock, the activity reporting its progress every second too. */
    const during = (seconds: number, move: boolean) => {
      const before = beats;
      for (let i = 0; i < seconds; i += 1) {
        if (move) bytes += 1024;
        t.mock.timers.tick(SECOND);
        reporter.report({ phase: 'dumping', bytesDone: bytes });
      }
      return beats - before;
    };
    assert.equal(during(30, true), 60, 'moving: the keep-alive and the reports, each second');
    assert.ok(during(59, false) > 0, 'still within the limit');
    during(2, false);
    assert.equal(during(300, false), 0, 'stalled: no heartbeat at all, neither kept alive nor reported');
    assert.ok(during(2, true) > 0, 'moving again');
    unwatch();
    stop();
  });
});

test('an activity with no transfer in flight (an index build, a lock wait) keeps heartbeating however long it runs', async (t) => {
  t.mock.timers.enable({ apis: ['setInterval', 'Date'], now: 0 });
  const env = new MockActivityEnvironment();
  let beats = 0;
  env.on('heartbeat', () => (beats += 1));
  await env.run(async () => {
    const stop = keepAlive(SECOND, 60 * SECOND);
    const unwatch = watchTransfer(() => 42);
    unwatch(); // a transfer that ended: nothing in flight any more
    t.mock.timers.tick(600 * SECOND);
    stop();
  });
  assert.equal(beats, 601);
});
