// One backup and one restore per database at a time, whatever the workflow id: a run started from the Temporal UI
// (a random id) holds the same lock as one the CLI or a schedule starts. A run no worker will ever serve (a typo in
// the UI's task queue or workflow type) that holds a lock is named by `pgwarden status` and by the refusal it causes,
// with the command that ends it.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApplicationFailure, WorkflowFailedError, type WorkflowHandleWithFirstExecutionRunId as WorkflowHandle } from '@temporalio/client';
import { execa } from 'execa';
import { databaseHealth } from '../../activities/catalog/health.js';
import { serverBinDir } from '../../activities/postgres/binaries.js';
import { startBackup, startRestore } from '../../client/api.js';
import { findTool } from '../../client/demo/tools.js';
import type { Config } from '../../config/schema.js';
import { PgwardenError } from '../../domain/errors.js';
import { jobTaskQueue, restoreWorkflowId } from '../../domain/ids.js';
import type { DatabaseHealth } from '../../domain/health.js';
import { startStack, type Stack } from '../harness/stack.js';

let stack: Stack;
let config: Config;

/** A bin directory whose pg_dump writes part of its table data and then hangs (until it is killed): a backup that stays running. */
function stallingBin(): string {
  const bin = mkdtempSync(join(tmpdir(), 'pgwarden-stalling-bin-'));
  for (const name of ['pg_dump', 'psql']) {
    const real = `${serverBinDir()}/${name}`;
    const script = name === 'pg_dump' ? `#!/bin/bash\ncase "$*" in *--section=data*) ;; *) exec ${real} "$@" ;; esac\n${real} "$@" | head -c 100000\nexec sleep 3600\n` : `#!/bin/bash\nexec ${real} "$@"\n`;
    writeFileSync(join(bin, name), script);
    chmodSync(join(bin, name), 0o755);
  }
  return bin;
}

before(async () => {
  stack = await startStack();
  await stack.pg.query('postgres', 'CREATE DATABASE shop');
  await stack.pg.query('shop', "CREATE TABLE t AS SELECT g AS id, md5(g::text) AS v FROM generate_series(1, 50000) g");
  config = stack.config({ shop: { db: 'shop' } }, { postgres: { binDir: stallingBin() } });
  await stack.worker(config);
});

after(async () => {
  await stack?.stop();
});

/** What the Temporal UI does: a start with an id of its own. */
async function startFromUi(type: string, input: unknown, taskQueue = config.temporal.taskQueue, workflowId = `ui-${randomUUID()}`): Promise<WorkflowHandle> {
  return stack.env.client.workflow.start(type, { taskQueue, workflowId, args: [input] });
}

/** Until the run's dump activity has been picked up by a worker. */
async function dumping(handle: WorkflowHandle): Promise<void> {
  for (let i = 0; ; i += 1) {
    const pending = (await handle.describe()).raw.pendingActivities ?? [];
    if (pending.some((a) => a.activityType?.name === 'dumpLogical' && Number(a.state) === 2 /* STARTED */)) return;
    assert.ok(i < 600, 'the dump started');
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The running job of `shop` that `pgwarden status` reports for `runId` (visibility takes a moment to list a new run). */
async function runningJob(runId: string): Promise<NonNullable<DatabaseHealth['running']>[number] | undefined> {
  for (let i = 0; i < 50; i += 1) {
    const health = await databaseHealth(config, 'shop', { temporal: stack.env.client });
    const job = health.running?.find((j) => j.runId === runId);
    if (job) return job;
    await new Promise((r) => setTimeout(r, 200));
  }
  return undefined;
}

describe('the lock holds whatever the workflow id', () => {
  test('a backup started from the UI (a random id) and one started by the CLI never run at once', async () => {
    const fromUi = await startFromUi('backupWorkflow', { database: 'shop', kind: 'manual' });
    await dumping(fromUi);
    // The CLI is refused, and told which run holds the lock.
    await assert.rejects(startBackup(stack.env.client, config, { database: 'shop', kind: 'manual' }), (error: unknown) => {
      assert.ok(error instanceof PgwardenError, String(error));
      assert.equal(error.kind, 'Refused');
      assert.match(error.message, new RegExp(`A backup of "shop" is already running: workflow ${fromUi.workflowId}, run ${fromUi.firstExecutionRunId} \\(backupWorkflow`));
      return true;
    });
    // A second UI start (another random id) is refused by the workflow before it does anything.
    const second = await startFromUi('backupWorkflow', { database: 'shop', kind: 'manual' });
    await assert.rejects(second.result(), (error: unknown) => {
      assert.ok(error instanceof WorkflowFailedError && error.cause instanceof ApplicationFailure, String(error));
      assert.equal(error.cause.type, 'Refused');
      assert.match(error.cause.message, /A backup of "shop" is already running \(workflow pgwarden-backup-shop\)/);
      return true;
    });
    const scheduled = (await second.fetchHistory()).events?.flatMap((e) => (e.activityTaskScheduledEventAttributes ? [e.activityTaskScheduledEventAttributes.activityType?.name] : [])) ?? [];
    assert.deepEqual(scheduled, ['lockReleased'], 'the refused run only asked whether the lock was being released (its holder runs: no)');

    // Once the UI's run has ended, the lock is free again.
    await fromUi.cancel();
    await assert.rejects(fromUi.result());
    const next = await startBackup(stack.env.client, config, { database: 'shop', kind: 'manual' });
    await next.cancel();
    await assert.rejects(next.result());
  });
});

describe('a run no worker serves', () => {
  const input = { database: 'shop', backup: 'latest', target: 'shop_copy' };

  for (const [what, type, taskQueue, unserved] of [
    ['on the restores job queue (polled for activities only)', 'restoreWorkflow', () => jobTaskQueue(config.temporal.taskQueue, 'restores'), /no worker polls task queue "pgwarden-test-\d+-\d+-restores" for workflows \(pgwarden's workers poll it for the restores' activities only/],
    ['with a mistyped workflow type', 'restoreworkflow', () => config.temporal.taskQueue, /no pgwarden worker hosts workflow type "restoreworkflow" \(pgwarden's is "restoreWorkflow"/],
  ] as const) {
    test(`a restore started ${what} under the lock id: status names it with the command that ends it, the next restore's refusal names its run`, async (t) => {
      const stuck = await startFromUi(type, input, taskQueue(), restoreWorkflowId('shop'));
      t.after(() => stuck.terminate('test over').catch(() => undefined)); // ended by the test itself when it passes
      const job = await runningJob(stuck.firstExecutionRunId);
      assert.ok(job, 'pgwarden status lists the run');
      assert.match(job.unserved ?? '', unserved);
      assert.match(job.end ?? '', new RegExp(`^temporal workflow terminate .*--workflow-id pgwarden-restore-shop --run-id ${stuck.firstExecutionRunId}`));

      await assert.rejects(startRestore(stack.env.client, config, input), (error: unknown) => {
        assert.ok(error instanceof PgwardenError, String(error));
        assert.equal(error.kind, 'Refused');
        assert.match(error.message, new RegExp(`workflow pgwarden-restore-shop, run ${stuck.firstExecutionRunId} \\(${type} on task queue`));
        assert.match(error.message, /which no worker will ever run/);
        assert.ok(error.message.includes(job.end!), error.message);
        return true;
      });

      // The command status gives ends it, and frees the lock.
      await execa(job.end!.replace(/^temporal/, findTool('temporal')), { shell: true });
      assert.equal((await stuck.describe()).status.name, 'TERMINATED');
    });
  }
});
