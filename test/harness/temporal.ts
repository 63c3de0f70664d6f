// A real Temporal dev server for tests (the Temporal CLI that scripts/bootstrap.sh installs) and pgwarden workers.
import { DefaultLogger, Runtime, type Worker } from '@temporalio/worker';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Config } from '../../config/schema.js';
import { findTool } from '../../client/demo/tools.js';
import { createHostWorker, createWorker } from '../../worker/worker.js';
import { SEARCH_ATTRIBUTES } from '../../workflows/messages.js';

let runtimeInstalled = false;

export async function startTemporal(): Promise<TestWorkflowEnvironment> {
  if (!runtimeInstalled) {
    Runtime.install({ logger: new DefaultLogger((process.env.PGWARDEN_LOG_LEVEL as never) ?? 'WARN') });
    runtimeInstalled = true;
  }
  // The dev server picks free ports for its internal services before it binds them; another process can take
  // one in between ("bind: address already in use", then the server exits). A fresh start picks new ones.
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await TestWorkflowEnvironment.createLocal({
        server: {
          executable: { type: 'existing-path', path: findTool('temporal') },
          searchAttributes: Object.values(SEARCH_ATTRIBUTES),
          log: { format: 'pretty', level: 'error' },
        },
      });
    } catch (error) {
      if (attempt >= 3) throw error;
    }
  }
}

export interface RunningWorker {
  worker: Worker;
  /** The same worker's second Worker, on its host's own task queue (PITR steps). */
  host: Worker;
  stop(): Promise<void>;
}

/** A pgwarden worker with `config` (both its Workers), polling until stop(). */
export async function runWorker(env: TestWorkflowEnvironment, config: Config): Promise<RunningWorker> {
  const worker = await createWorker(config, env.nativeConnection);
  const host = await createHostWorker(config, env.nativeConnection);
  const running = Promise.all([worker.run(), host.run()]);
  return {
    worker,
    host,
    stop: async () => {
      worker.shutdown();
      host.shutdown();
      await running;
    },
  };
}
