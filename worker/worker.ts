// The pgwarden worker: hosts the workflows and the activities (which hold every credential) on one task queue.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { NativeConnection, Worker } from '@temporalio/worker';
import type { Config } from '../config/schema.js';
import { createActivities } from '../activities/index.js';
import { hostTaskQueue } from '../activities/pitr/host.js';
import { FailureKindInterceptor } from './interceptors.js';

/** Built by `npm run build` (worker/bundle.ts); without it the worker bundles workflows at start-up. */
export const WORKFLOW_BUNDLE = fileURLToPath(new URL('../workflows-bundle.js', import.meta.url));
export const WORKFLOWS_ENTRY = fileURLToPath(new URL('../workflows/index.js', import.meta.url));
/** Input the SDK cannot decode reaches the workflow's input check instead of failing its task (see the file). */
export const PAYLOAD_CONVERTER = fileURLToPath(new URL('./payload-converter.js', import.meta.url));
/** Reports every job's outcome (alerts, healthchecks pings) around the workflow's own code. */
export const WORKFLOW_INTERCEPTORS = fileURLToPath(new URL('../workflows/notify-interceptor.js', import.meta.url));

/** After the grace time: what stopped activities get to clean up (abort uploads, drop a staging database). */
export const SHUTDOWN_CLEANUP_MS = 4_000;

export async function createWorker(config: Config, connection: NativeConnection): Promise<Worker> {
  return Worker.create({
    connection,
    namespace: config.temporal.namespace,
    taskQueue: config.temporal.taskQueue,
    ...(existsSync(WORKFLOW_BUNDLE) ? { workflowBundle: { codePath: WORKFLOW_BUNDLE } } : { workflowsPath: WORKFLOWS_ENTRY }),
    activities: createActivities(config),
    dataConverter: { payloadConverterPath: PAYLOAD_CONVERTER },
    interceptors: {
      activity: [() => ({ inbound: new FailureKindInterceptor() })],
      ...(existsSync(WORKFLOW_BUNDLE) ? {} : { workflowModules: [WORKFLOW_INTERCEPTORS] }), // the bundle has them built in
    },
    // Each dump or restore runs several processes (pg_dump, zstd, psql): a handful at a time per worker.
    maxConcurrentActivityTaskExecutions: 8,
    // Heartbeats carry progress: let them reach the server every few seconds, not once a minute.
    defaultHeartbeatThrottleInterval: '2s',
    maxHeartbeatThrottleInterval: '5s',
    // On SIGTERM: running activities get this long to finish; then they are stopped, clean up and fail as
    // retryable, so another worker takes them over. The process is gone a few seconds after that.
    shutdownGraceTime: config.worker.shutdownGraceTime,
    shutdownForceTime: config.worker.shutdownGraceTime + SHUTDOWN_CLEANUP_MS,
  });
}

/**
 * The same process's second worker: it polls this host's own task queue (Temporal's worker-specific task queue
 * pattern), where a PITR sends every step after the first, because its data directory is on this host's disk.
 * Activities only; run it beside createWorker's.
 */
export async function createHostWorker(config: Config, connection: NativeConnection): Promise<Worker> {
  return Worker.create({
    connection,
    namespace: config.temporal.namespace,
    taskQueue: hostTaskQueue(config),
    activities: createActivities(config),
    interceptors: { activity: [() => ({ inbound: new FailureKindInterceptor() })] },
    dataConverter: { payloadConverterPath: PAYLOAD_CONVERTER },
    maxConcurrentActivityTaskExecutions: 4,
    defaultHeartbeatThrottleInterval: '2s',
    maxHeartbeatThrottleInterval: '5s',
    // A PITR step on SIGTERM: as createWorker's (the workflow starts over on another host if this one is gone).
    shutdownGraceTime: config.worker.shutdownGraceTime,
    shutdownForceTime: config.worker.shutdownGraceTime + SHUTDOWN_CLEANUP_MS,
  });
}
