// A real Temporal dev server for tests (the Temporal CLI that scripts/bootstrap.sh installs) and pgwarden workers.
import { DefaultLogger, Runtime, type Worker } from '@temporalio/worker';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Config } from '../../config/schema.js';
import { findTool } from '../../client/demo/tools.js';
import { createWorker } from '../../worker/worker.js';
import { SEARCH_ATTRIBUTES } from '../../workflows/messages.js';

let runtimeInstalled = false;

export async function startTemporal(): Promise<TestWorkflowEnvironment> {
  if (!runtimeInstalled) {
    Runtime.install({ logger: new DefaultLogger((process.env.PGWARDEN_LOG_LEVEL as never) ?? 'WARN') });
    runtimeInstalled = true;
  }
  return TestWorkflowEnvironment.createLocal({
    server: {
      executable: { type: 'existing-path', path: findTool('temporal') },
      searchAttributes: Object.values(SEARCH_ATTRIBUTES),
      log: { format: 'pretty', level: 'error' },
    },
  });
}

export interface RunningWorker {
  worker: Worker;
  stop(): Promise<void>;
}

/** A pgwarden worker with `config`, polling until stop(). */
export async function runWorker(env: TestWorkflowEnvironment, config: Config): Promise<RunningWorker> {
  const worker = await createWorker(config, env.nativeConnection);
  const running = worker.run();
  return {
    worker,
    stop: async () => {
      worker.shutdown();
      await running;
    },
  };
}
