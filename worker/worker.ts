// The pgwarden worker: hosts the workflows and the activities (which hold every credential) on four task queues:
// the configured one, one each for backups and restores, and this host's own.
import { existsSync } from 'node:fs';
import { availableParallelism, totalmem } from 'node:os';
import { NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import { distPath } from '../config/install.js';
import type { Config } from '../config/schema.js';
import { createActivities, type Activities } from '../activities/index.js';
import { hostTaskQueue } from '../activities/pitr/host.js';
import { jobTaskQueue } from '../domain/ids.js';
import { FailureKindInterceptor } from './interceptors.js';

/** Built by `npm run build` (worker/bundle.ts); without it the worker bundles workflows at start-up. */
export const WORKFLOW_BUNDLE = distPath('workflows-bundle.js');
export const WORKFLOWS_ENTRY = distPath('workflows', 'index.js');
/** Input the SDK cannot decode reaches the workflow's input check instead of failing its task (see the file). */
export const PAYLOAD_CONVERTER = distPath('worker', 'payload-converter.js');
/** Reports every job's outcome (alerts, healthchecks pings) around the workflow's own code. */
export const WORKFLOW_INTERCEPTORS = distPath('workflows', 'notify-interceptor.js');

/** After the grace time: what stopped activities get to clean up (abort uploads, drop a staging database). */
export const SHUTDOWN_CLEANUP_MS = 4_000;

/** What createWorker starts: Temporal Workers (task queue, backups, restores, this host's) that run and stop together. */
export interface PgwardenWorker {
  /** Until shutdown() or until one of them stops (then the others stop too). */
  run(): Promise<void>;
  shutdown(): void;
  /** Dumps at once, and restores at once, that this worker takes (worker.maxConcurrentJobs). */
  readonly maxConcurrentJobs: number;
  /** Activities running on any of its task queues. */
  getStatus(): { numInFlightNonLocalActivities: number };
}

/**
 * Workflows and short activities on the task queue; the long jobs on a task queue of their own (backups, restores),
 * each polled with at most maxConcurrentJobs at once: a worker asks Temporal for a job only when it has room,
 * so 20 backups fired at 02:00 wait in Temporal, first come first served, and every worker on the queue takes
 * its share.
 */
export async function createWorker(config: Config, connection: NativeConnection): Promise<PgwardenWorker> {
  const activities = createActivities(config);
  const common = {
    connection,
    namespace: config.temporal.namespace,
    activities,
    dataConverter: { payloadConverterPath: PAYLOAD_CONVERTER },
    interceptors: { activity: [() => ({ inbound: new FailureKindInterceptor() })] },
    // Heartbeats carry progress: let them reach the server every few seconds, not once a minute.
    defaultHeartbeatThrottleInterval: '2s',
    maxHeartbeatThrottleInterval: '5s',
    // On SIGTERM: running activities get this long to finish; then they are stopped, clean up and fail as
    // retryable, so another worker takes them over. The process is gone a few seconds after that.
    shutdownGraceTime: config.worker.shutdownGraceTime,
    shutdownForceTime: config.worker.shutdownGraceTime + SHUTDOWN_CLEANUP_MS,
  } satisfies Partial<WorkerOptions>;
  const limit = maxConcurrentJobs(config);
  const workers = await Promise.all([
    Worker.create({
      ...common,
      taskQueue: config.temporal.taskQueue,
      ...(existsSync(WORKFLOW_BUNDLE) ? { workflowBundle: { codePath: WORKFLOW_BUNDLE } } : { workflowsPath: WORKFLOWS_ENTRY }),
      interceptors: {
        ...common.interceptors,
        ...(existsSync(WORKFLOW_BUNDLE) ? {} : { workflowModules: [WORKFLOW_INTERCEPTORS] }), // the bundle has them built in
      },
      // Checks, listings, renames, clean-ups: short, and never held up by the long jobs.
      maxConcurrentActivityTaskExecutions: 16,
    }),
    // The job queues take only the jobs that move a backup's bytes: anything else sent there is misrouted and fails
    // at once ("not registered") instead of taking a job slot. The main queue keeps every activity, since runs that
    // began before the job queues still schedule their jobs there.
    ...(['backups', 'restores'] as const).map((jobs) =>
      Worker.create({ ...common, activities: jobActivities(activities), taskQueue: jobTaskQueue(config.temporal.taskQueue, jobs), maxConcurrentActivityTaskExecutions: limit }),
    ),
    // This host's own task queue (Temporal's worker-specific task queue pattern): a PITR sends every step after
    // the first there, because its data directory is on this host's disk. Activities only.
    Worker.create({ ...common, taskQueue: hostTaskQueue(config), maxConcurrentActivityTaskExecutions: 4 }),
  ]);
  return {
    maxConcurrentJobs: limit,
    // All run until shutdown(); one that stops for another reason stops the rest. Settles only once every one has
    // stopped (the connection cannot close while a Worker holds it), with the first failure if there was one.
    run: async () => {
      const ran = await Promise.allSettled(workers.map((w) => w.run().finally(() => stopAll(workers))));
      const failed = ran.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) throw failed.reason;
    },
    shutdown: () => stopAll(workers),
    getStatus: () => ({ numInFlightNonLocalActivities: workers.reduce((n, w) => n + w.getStatus().numInFlightNonLocalActivities, 0) }),
  };
}

/** The activities that read or write a whole backup: each counts against worker.maxConcurrentJobs. */
export const JOB_ACTIVITIES = [
  'dumpLogical',
  'replicateBackup',
  'takeBaseBackup',
  'restoreLogical',
  'restoreIntoFreshProject',
  'drillFreshProject',
  'verifyBackup',
  'verifyWal',
  'verifyBackupCopy',
  'applyExpiry',
] as const satisfies readonly (keyof Activities)[];

function jobActivities(activities: Activities): Pick<Activities, (typeof JOB_ACTIVITIES)[number]> {
  return Object.fromEntries(JOB_ACTIVITIES.map((name) => [name, activities[name]])) as Pick<Activities, (typeof JOB_ACTIVITIES)[number]>;
}

function stopAll(workers: Worker[]): void {
  for (const w of workers) if (w.getState() === 'RUNNING') w.shutdown();
}

const MiB = 1024 * 1024;

/**
 * worker.maxConcurrentJobs, or from the machine: one job per CPU core (a dump runs backup.jobs streams, each
 * pg_dump or psql, zstd and gpg), at most one per 512 MiB of memory beyond the worker's own 256 MiB (the
 * container's limit where it is lower than the machine's), at least one.
 */
export function maxConcurrentJobs(config: { worker: Pick<Config['worker'], 'maxConcurrentJobs'> }, machine = { cores: availableParallelism(), memoryBytes: memoryLimit() }): number {
  if (config.worker.maxConcurrentJobs) return config.worker.maxConcurrentJobs;
  const byMemory = Math.floor((machine.memoryBytes - 256 * MiB) / (512 * MiB));
  return Math.max(1, Math.min(machine.cores, byMemory));
}

function memoryLimit(): number {
  const constrained = (process as { constrainedMemory?: () => number | undefined }).constrainedMemory?.() ?? 0;
  return constrained > 0 && constrained < totalmem() ? constrained : totalmem();
}
