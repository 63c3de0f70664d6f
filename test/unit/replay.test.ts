// Replays every recorded history (test/replay/<release>/<type>/*.json) against the workflows as they are now:
// a change to the commands a workflow issues that is not behind patched() fails here with a nondeterminism error,
// before a deploy strands the runs in flight. Refresh with `npm run record-histories` (README, Development).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from '@temporalio/worker';
import { PAYLOAD_CONVERTER, WORKFLOW_BUNDLE, WORKFLOW_INTERCEPTORS, WORKFLOWS_ENTRY } from '../../worker/worker.js';
import * as workflows from '../../workflows/index.js';
import { historyFromJson } from '../replay/history.js';
import { WORKFLOW_TYPES } from '../../domain/ids.js';

const REPLAY_DIR = fileURLToPath(new URL('../../../test/replay/', import.meta.url));

function historyFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? historyFiles(join(dir, e.name)) : e.name.endsWith('.json') ? [join(dir, e.name)] : [],
  );
}

const files = historyFiles(REPLAY_DIR);
/** <release>/<workflow type>/<file>: the type is the folder the file sits in. */
const typeOf = (file: string) => relative(REPLAY_DIR, file).split('/')[1]!;

describe('recorded workflow histories replay on the current workflows', () => {
  it('every workflow type the worker hosts has recorded histories', () => {
    const recorded = new Set(files.map(typeOf));
    assert.deepEqual(Object.keys(workflows).filter((type) => !recorded.has(type)), []);
  });

  it('the workflow types pgwarden names as its own (WORKFLOW_TYPES) are the ones the worker hosts', () => {
    // pgwarden status calls a run of any other type one no worker serves.
    assert.deepEqual([...WORKFLOW_TYPES].sort(), Object.keys(workflows).sort());
  });

  it('every history replays without a nondeterminism error', async () => {
    assert.ok(files.length > 0, `no histories under ${REPLAY_DIR}`);
    // `temporal workflow show --output json`, with the run's workflow id beside the events (child ids derive from it).
    const histories = files.map((file) => {
      const json = JSON.parse(readFileSync(file, 'utf8')) as { workflowId?: string };
      return { workflowId: json.workflowId ?? 'replay', file: relative(REPLAY_DIR, file), history: historyFromJson(json) };
    });
    // The same code a worker runs: the build's bundle (interceptors built in), or the sources when there is none.
    const bundled = existsSync(WORKFLOW_BUNDLE);
    const failures: string[] = [];
    let replayed = 0;
    for await (const result of Worker.runReplayHistories(
      {
        ...(bundled ? { workflowBundle: { codePath: WORKFLOW_BUNDLE } } : { workflowsPath: WORKFLOWS_ENTRY, interceptors: { workflowModules: [WORKFLOW_INTERCEPTORS] } }),
        dataConverter: { payloadConverterPath: PAYLOAD_CONVERTER },
        replayName: 'pgwarden-replay',
      },
      histories,
    )) {
      replayed += 1;
      if (result.error) failures.push(`${histories[replayed - 1]!.file}: ${result.error.message}`);
    }
    assert.equal(replayed, histories.length);
    assert.deepEqual(failures, []);
  });
});
