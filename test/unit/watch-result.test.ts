// waitFor hands over the workflow's result as soon as it arrives, not at the next round of its progress poll
// (issue 22: the benchmark's client-side times of every pgwarden row carried up to a second of that poll's pause).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { WorkflowHandle } from '@temporalio/client';
import { waitFor } from '../../client/watch.js';

test('the result comes back without waiting out the poll interval', async () => {
  let describes = 0;
  const handle = {
    workflowId: 'w',
    client: { withAbortSignal: <R>(_signal: AbortSignal, fn: () => Promise<R>) => fn() },
    describe: async () => {
      describes += 1;
      return { raw: { pendingActivities: [] } };
    },
    result: () => new Promise((resolve) => setTimeout(() => resolve('done'), 50)),
  } as unknown as WorkflowHandle;
  const started = performance.now();
  assert.equal(await waitFor<string>(handle, undefined, 5_000), 'done');
  const took = performance.now() - started;
  assert.ok(took < 1_000, `waitFor took ${Math.round(took)} ms for a result ready after 50 ms (poll every 5 s)`);
  assert.equal(describes, 1);
});
