// Saves the history of every workflow run a test file left on its Temporal server (PGWARDEN_RECORD_HISTORIES=dir),
// the raw material of the replay suite (test/replay/, selected by test/replay/select.ts).
import { mkdirSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { execa } from 'execa';
import { findTool } from '../../client/demo/tools.js';

export const RECORD_DIR_ENV = 'PGWARDEN_RECORD_HISTORIES';

/** Writes `<type>--<test file>--<workflow id>--<run id>.json` for each run in the namespace; no-op unless asked. */
export async function saveHistories(env: TestWorkflowEnvironment): Promise<void> {
  const dir = process.env[RECORD_DIR_ENV];
  if (!dir) return;
  mkdirSync(dir, { recursive: true });
  const label = basename(process.argv[1] ?? 'unknown').replace(/\.test\.js$/, '').replace(/\.js$/, '');
  const safe = (s: string) => s.replace(/[^A-Za-z0-9_.-]/g, '_');
  try {
    const namespace = env.namespace ?? 'default';
    for await (const run of env.client.workflow.list()) {
      // The form `temporal workflow show --output json` gives an operator (the SDK's historyToJSON trips over
      // the two copies of protobufjs its packages bring).
      const { stdout } = await execa(findTool('temporal'), ['workflow', 'show', '--address', env.address, '--namespace', namespace, '--workflow-id', run.workflowId, '--run-id', run.runId, '--output', 'json']);
      // Its workflow id beside the events: a workflow that derives ids from its own replays only under it.
      const history = { workflowId: run.workflowId, ...(JSON.parse(stdout) as object) };
      writeFileSync(join(dir, `${safe(run.type)}--${safe(label)}--${safe(run.workflowId)}--${run.runId}.json`), JSON.stringify(history));
    }
  } catch (error) {
    // Recording is a by-product of the test run: a server already gone costs the histories, not the test.
    console.error(`histories not saved: ${(error as Error).message}`);
  }
}
