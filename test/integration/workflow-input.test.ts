// Whatever the Temporal UI (or a script) starts a workflow with, a malformed input fails that workflow at once with
// a Usage error that shows the expected JSON: never a workflow task that fails and is retried for ever.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { ApplicationFailure, WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Config } from '../../config/schema.js';
import { SEARCH_ATTRIBUTES } from '../../domain/ids.js';
import { secretEnv, testConfig } from '../harness/config.js';
import { namespaceOf, runWorker, startTemporal, type RunningWorker } from '../harness/temporal.js';

let env: TestWorkflowEnvironment;
let worker: RunningWorker;
let config: Config;
let repoDir: string;

before(async () => {
  env = await startTemporal();
  repoDir = mkdtempSync(join(tmpdir(), 'pgwarden-input-'));
  config = testConfig({
    temporal: { address: env.address, namespace: namespaceOf(env), taskQueue: `pgwarden-input-${process.pid}` },
    repositories: { local: { type: 'fs', path: repoDir } },
    databases: { cartly: { connection: { env: secretEnv('postgresql://nobody@127.0.0.1:1/cartly') } } },
  });
  worker = await runWorker(env, config);
});

after(async () => {
  await worker?.stop();
  await env?.teardown();
  rmSync(repoDir, { recursive: true, force: true });
});

/** Waits for the run to end; a failed workflow task on the way is the defect this file is about. */
async function expectUsageFailure(handle: WorkflowHandle, message: RegExp): Promise<void> {
  for (let i = 0; ; i += 1) {
    const history = await handle.fetchHistory();
    const taskFailure = history.events?.find((e) => e.workflowTaskFailedEventAttributes);
    assert.equal(taskFailure, undefined, `the workflow task failed (and is retried for ever): ${taskFailure?.workflowTaskFailedEventAttributes?.failure?.message}`);
    if ((await handle.describe()).status.name !== 'RUNNING') break;
    assert.ok(i < 300, 'the workflow neither failed nor finished within 30 s');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  await assert.rejects(handle.result(), (error: unknown) => {
    assert.ok(error instanceof WorkflowFailedError, String(error));
    assert.ok(error.cause instanceof ApplicationFailure, String(error.cause));
    assert.equal(error.cause.type, 'Usage');
    assert.equal(error.cause.nonRetryable, true);
    assert.match(error.cause.message, message);
    return true;
  });
}

const WORKFLOWS: Array<{ type: string; example: RegExp; wrongType: unknown; field: RegExp }> = [
  { type: 'backupWorkflow', example: /Expected JSON like \{"database": "cartly", "kind"/, wrongType: { database: 'cartly', kind: 'hourly' }, field: /field "kind" must be one of daily/ },
  { type: 'restoreWorkflow', example: /"backup": "latest", "target": "cartly_restored"/, wrongType: { database: 'cartly', backup: 'latest', target: 'x', noOwner: 'yes' }, field: /field "noOwner" must be a boolean, got the string "yes"/ },
  { type: 'baseBackupWorkflow', example: /Expected JSON like \{"database": "cartly"\}/, wrongType: { database: 42 }, field: /field "database" must be a string, got number 42/ },
  { type: 'pitrWorkflow', example: /"target": "2026-11-25T14:30:00\+01:00"/, wrongType: { database: 'cartly', target: 'latest', port: '5433' }, field: /field "port" must be an integer/ },
  { type: 'expireWorkflow', example: /"dryRun": true/, wrongType: { database: 'cartly', dryRun: 'false' }, field: /field "dryRun" must be a boolean/ },
  { type: 'preMigrationWorkflow', example: /"migrationId": "20261125143000_orders_index"/, wrongType: { database: 'cartly', migrationId: 'no spaces please' }, field: /field "migrationId" must be letters, digits/ },
  { type: 'scheduledWorkflow', example: /"operation": "backup"/, wrongType: { database: 'cartly', operation: 'vacuum' }, field: /field "operation" must be one of backup, basebackup, expire/ },
  { type: 'verifyWorkflow', example: /"backup": "<id>\|latest\|all"/, wrongType: { database: 'cartly', wal: 'yes' }, field: /field "wal" must be a boolean/ },
  { type: 'drillWorkflow', example: /"pitr": true/, wrongType: { database: 'cartly', pitr: 1 }, field: /field "pitr" must be a boolean, got number 1/ },
  { type: 'monitorWorkflow', example: /Expected JSON like \{"database": "cartly"\}/, wrongType: { database: ['cartly'] }, field: /field "database" must be a string, got an array/ },
  { type: 'notifyWorkflow', example: /"outcome"/, wrongType: { database: 7 }, field: /field "database" must be a string, got number 7/ },
];

async function start(type: string, args: unknown[]): Promise<WorkflowHandle> {
  return env.client.workflow.start(type, { taskQueue: config.temporal.taskQueue, workflowId: `input-${type}-${randomUUID()}`, args });
}

/** What the UI sends with a non-JSON encoding chosen, or a tool that sends raw bytes: a payload the SDK cannot decode. */
async function startRaw(type: string, encoding: string, data: string): Promise<WorkflowHandle> {
  const workflowId = `input-raw-${type}-${randomUUID()}`;
  await env.client.workflowService.startWorkflowExecution({
    namespace: config.temporal.namespace,
    workflowId,
    workflowType: { name: type },
    taskQueue: { name: config.temporal.taskQueue },
    input: { payloads: [{ metadata: { encoding: Buffer.from(encoding) }, data: Buffer.from(data) }] },
    identity: 'pgwarden test',
    requestId: randomUUID(),
  });
  return env.client.workflow.getHandle(workflowId);
}

describe('malformed workflow input from the Temporal UI', () => {
  for (const w of WORKFLOWS) {
    test(`${w.type}: no input, null, a string, an array, missing fields and wrong types each fail the workflow with Usage`, async () => {
      await Promise.all([
        start(w.type, []).then((h) => expectUsageFailure(h, /must be one JSON object, got nothing/)),
        start(w.type, [null]).then((h) => expectUsageFailure(h, /must be one JSON object, got null/)),
        start(w.type, ['cartly']).then((h) => expectUsageFailure(h, /must be one JSON object, got the string "cartly"/)),
        start(w.type, [['cartly']]).then((h) => expectUsageFailure(h, /must be one JSON object, got an array/)),
        start(w.type, [{}]).then((h) => expectUsageFailure(h, /needs "database"/)),
        start(w.type, [w.wrongType]).then((h) => expectUsageFailure(h, w.field)),
        start(w.type, [null]).then((h) => expectUsageFailure(h, w.example)),
      ]);
    });
  }

  test('input the SDK cannot decode (not JSON, or another encoding) fails every workflow with Usage', async () => {
    await Promise.all(
      WORKFLOWS.flatMap((w) => [
        startRaw(w.type, 'json/plain', '{"database": "cartly",').then((h) => expectUsageFailure(h, /is not JSON/)),
        startRaw(w.type, 'binary/plain', '{"database": "cartly"}').then((h) => expectUsageFailure(h, /must be one JSON object, got binary data/)),
        startRaw(w.type, 'text/plain', '{"database": "cartly"}').then((h) => expectUsageFailure(h, /is not JSON \(Unknown encoding: text\/plain\)/)),
        // The UI's other encoding choice carries JSON text: it is read as JSON (and checked like any input).
        startRaw(w.type, 'json/protobuf', '{"database": 7}').then((h) => expectUsageFailure(h, /field "database" must be a string, got number 7/)),
      ]),
    );
  });
});

describe('input the way the UI and scripts type it', () => {
  test('a run that fails its input check is still found by the database its input names (the README audit query)', async () => {
    const runs = await Promise.all([
      start('restoreWorkflow', [{ database: 'cartly', backup: 'latest' }]).then(async (h) => (await expectUsageFailure(h, /needs "target"/), h)),
      start('backupWorkflow', [{ database: 'cartly', kind: 'hourly' }]).then(async (h) => (await expectUsageFailure(h, /field "kind"/), h)),
      start('pitrWorkflow', [{ database: 'cartly', target: 'latest', port: '5433' }]).then(async (h) => (await expectUsageFailure(h, /field "port"/), h)),
    ]);
    for (const handle of runs) {
      const attributes = (await handle.describe()).typedSearchAttributes;
      assert.equal(attributes.get(SEARCH_ATTRIBUTES.database), 'cartly', `${handle.workflowId} carries PgwardenDatabase`);
    }
  });

  test('a field the workflow does not know is refused, with the fields it knows: a typo is not ignored', async () => {
    await Promise.all([
      start('restoreWorkflow', [{ database: 'cartly', backup: 'latest', target: 'cartly_copy', noowner: true }]).then((h) =>
        expectUsageFailure(h, /has a field it does not know: "noowner" \(the fields are "database", "backup", "target", "replaceExisting", "noOwner", "noPrivileges", "repository", "tables", "schemas", "server"; names are case-sensitive\)/),
      ),
      start('backupWorkflow', [{ database: 'cartly', kind: 'manual', Kind: 'daily', repo: 'b2' }]).then((h) => expectUsageFailure(h, /has fields it does not know: "Kind", "repo" \(the fields are "database", "kind", "migrationId"/)),
    ]);
  });

  test('a restore into a name pgwarden does not create is refused in the JSON field typed, not only the CLI flag', async () => {
    const handle = await start('restoreWorkflow', [{ database: 'cartly', backup: 'latest', target: 'cartly copy; DROP' }]);
    await assert.rejects(handle.result(), (error: unknown) => {
      assert.ok(error instanceof WorkflowFailedError, String(error));
      const failure = error.cause?.cause;
      assert.ok(failure instanceof ApplicationFailure, String(error.cause));
      assert.equal(failure.type, 'Usage');
      assert.match(failure.message, /^"target" \(--into\) "cartly copy; DROP" is not a database name/);
      return true;
    });
  });
});
