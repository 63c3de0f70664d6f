// A real Temporal dev server for tests (the Temporal CLI that scripts/bootstrap.sh installs) and pgwarden workers.
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Config } from '../../config/schema.js';
import { findTool } from '../../client/demo/tools.js';
import { createWorker, type PgwardenWorker } from '../../worker/worker.js';
import { SEARCH_ATTRIBUTES } from '../../domain/ids.js';

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
  worker: PgwardenWorker;
  stop(): Promise<void>;
}

/** A pgwarden worker with `config` (all its Workers, this host's task queue too), polling until stop(). */
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
