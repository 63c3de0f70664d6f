// Stub activities for workflow tests: each test says what an activity returns; every call is recorded.
import { bundleWorkflowCode, Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { PAYLOAD_CONVERTER, WORKFLOW_INTERCEPTORS } from '../../worker/worker.js';
import { namespaceOf } from '../harness/temporal.js';

type Fn = (input: never) => unknown;
export type Stubs = Record<string, Fn> & { fakeChild(input: { type: string; input: unknown }): Promise<unknown> };

export interface Call {
  activity: string;
  input: unknown;
  taskQueue: string;
}

const FAKES = new URL('./fakes.js', import.meta.url).pathname;
let bundle: Promise<WorkflowBundleWithSourceMap> | undefined;

/**
 * A worker on `taskQueue` hosting the real workflows (with the job-notification interceptor, as in production)
 * beside fakes of their children, and the activities `names` answered by `stubs.current` (set per test).
 * `workflows: false`: activities only (another host's task queue).
 */
export async function stubWorker(env: TestWorkflowEnvironment, taskQueue: string, names: string[], stubs: { current: Record<string, Fn> }, calls: Call[], workflows = true): Promise<Worker> {
  const activities = Object.fromEntries(
    names.map((name) => [
      name,
      async (input: never) => {
        calls.push({ activity: name, input, taskQueue });
        const stub = stubs.current[name];
        if (!stub) throw new Error(`activity ${name} was not expected in this test`);
        return stub(input);
      },
    ]),
  );
  bundle ??= bundleWorkflowCode({ workflowsPath: FAKES, payloadConverterPath: PAYLOAD_CONVERTER, workflowInterceptorModules: [WORKFLOW_INTERCEPTORS], logger: quiet });
  return Worker.create({
    connection: env.nativeConnection,
    namespace: namespaceOf(env),
    taskQueue,
    activities,
    dataConverter: { payloadConverterPath: PAYLOAD_CONVERTER },
    ...(workflows ? { workflowBundle: await bundle } : {}),
  });
}

const quiet = { info() {}, warn() {}, error: console.error, debug() {}, trace() {}, log() {} } as never;
