// A real Temporal dev server for tests (the Temporal CLI that scripts/bootstrap.sh installs) and pgwarden workers.
// Under the test runner (test/harness/run-suite.ts) every test file shares one dev server, each in a namespace
// of its own, so workflow ids, task queues and schedules of files running side by side never meet.
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { execa } from 'execa';
import type { Config } from '../../config/schema.js';
import { findTool } from '../../client/demo/tools.js';
import { createWorker, type PgwardenWorker } from '../../worker/worker.js';
import { SEARCH_ATTRIBUTES, searchAttributeCommand } from '../../domain/ids.js';
import { saveHistories } from './histories.js';

/** The address of the dev server the test runner started for the whole suite; unset, each caller gets its own. */
export const SHARED_TEMPORAL_ENV = 'PGWARDEN_TEST_TEMPORAL';

let runtimeInstalled = false;
let namespaces = 0;

/**
 * `own`: a dev server of its own even under the test runner, for a file whose assertions read "default" as the
 * namespace (the commands the CLI prints name the namespace only when it is not "default").
 */
export async function startTemporal(options: { own?: boolean } = {}): Promise<TestWorkflowEnvironment> {
  if (!runtimeInstalled) {
    Runtime.install({ logger: new DefaultLogger((process.env.PGWARDEN_LOG_LEVEL as never) ?? 'WARN') });
    runtimeInstalled = true;
  }
  const shared = process.env[SHARED_TEMPORAL_ENV];
  const env = shared && !options.own ? await namespaceOn(shared) : await startDevServer();
  const teardown = env.teardown.bind(env);
  env.teardown = async () => {
    await saveHistories(env);
    await teardown();
  };
  return env;
}

/** A dev server of its own (a test file run alone, the benchmark), pgwarden's search attributes on "default". */
export async function startDevServer(): Promise<TestWorkflowEnvironment> {
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

/** A fresh namespace with pgwarden's search attributes on the shared server; teardown closes only the connections. */
async function namespaceOn(address: string): Promise<TestWorkflowEnvironment> {
  namespaces += 1;
  const namespace = `pgwarden-test-${process.pid}-${namespaces}`;
  // What the README tells an operator to run for a namespace of their own.
  await execa(findTool('temporal'), ['operator', 'namespace', 'create', '--address', address, '--namespace', namespace]);
  await execa(findTool('temporal'), searchAttributeCommand(namespace, address).split(' ').slice(1));
  return await TestWorkflowEnvironment.createFromExistingServer({ address, namespace });
}

/** The namespace the environment's client works in ("default" on a server of its own). */
export function namespaceOf(env: TestWorkflowEnvironment): string {
  return env.namespace ?? 'default';
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
