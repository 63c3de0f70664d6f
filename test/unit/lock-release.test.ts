import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Client } from '@temporalio/client';
import { WorkflowNotFoundError } from '@temporalio/common';
import { lockBeingReleased } from '../../activities/workflow-runs.js';

type Run = { type: string; status: string; runId: string; parent?: { workflowId: string; runId: string } };

/** A Temporal client that knows the runs of `runs` (by workflow id, then run id) and answers describe() as the SDK does. */
function clientKnowing(runs: Record<string, Run | (() => Run | undefined)>): Client {
  return {
    workflow: {
      getHandle: (workflowId: string, runId?: string) => ({
        describe: async () => {
          const entry = runs[runId ? `${workflowId}/${runId}` : workflowId] ?? runs[workflowId];
          const run = typeof entry === 'function' ? entry() : entry;
          if (!run) throw new WorkflowNotFoundError('not found', workflowId, runId);
          return { type: run.type, runId: run.runId, status: { name: run.status }, raw: { workflowExecutionInfo: { parentExecution: run.parent } } };
        },
      }),
    },
  } as unknown as Client;
}

// A start refused by the lock looks at it a moment later: what it finds decides between trying again and refusing.
test('a lock gone (or ended) between the refused start and the look is released: start again', async () => {
  assert.equal(await lockBeingReleased(clientKnowing({}), 'pgwarden-backup-shop'), true);
  const ended = clientKnowing({ 'pgwarden-backup-shop': { type: 'databaseLockWorkflow', status: 'TERMINATED', runId: 'l1' } });
  assert.equal(await lockBeingReleased(ended, 'pgwarden-backup-shop'), true);
});

test('a lock whose holder runs, or a run under the lock id itself, is not being released: refuse at once', async () => {
  const held = clientKnowing({
    'pgwarden-backup-shop': { type: 'databaseLockWorkflow', status: 'RUNNING', runId: 'l1', parent: { workflowId: 'ui-1', runId: 'h1' } },
    'ui-1/h1': { type: 'backupWorkflow', status: 'RUNNING', runId: 'h1' },
  });
  assert.equal(await lockBeingReleased(held, 'pgwarden-backup-shop'), false);
  const cli = clientKnowing({ 'pgwarden-backup-shop': { type: 'backupWorkflow', status: 'RUNNING', runId: 'b1' } });
  assert.equal(await lockBeingReleased(cli, 'pgwarden-backup-shop'), false);
});

test('a lock whose holder has ended is waited for until Temporal removes it', async () => {
  let looks = 0;
  const closing = clientKnowing({
    'pgwarden-backup-shop': () => {
      looks += 1;
      return { type: 'databaseLockWorkflow', status: looks < 4 ? 'RUNNING' : 'TERMINATED', runId: 'l1', parent: { workflowId: 'ui-1', runId: 'h1' } };
    },
    'ui-1/h1': { type: 'backupWorkflow', status: 'COMPLETED', runId: 'h1' },
  });
  assert.equal(await lockBeingReleased(closing, 'pgwarden-backup-shop'), true);
  assert.ok(looks >= 4, `looked ${looks} times`);
});
