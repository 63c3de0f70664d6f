// pgwarden worker: runs workflows and activities until SIGINT/SIGTERM; running activities then get worker.shutdownGraceTime
// to finish, and what is still running after it is stopped and retried on another worker.
import { connectClient, connectWorker, ensureSearchAttributes } from '../../worker/temporal.js';
import { serveMetrics } from '../../worker/metrics.js';
import { createWorker } from '../../worker/worker.js';
import { hostTaskQueue } from '../../activities/pitr/host.js';
import type { CommandContext } from '../context.js';
import { formatDuration } from '../output.js';

export async function workerCommand(ctx: CommandContext, options: { metrics?: string } = {}): Promise<void> {
  const config = ctx.config;
  const client = await connectClient(config);
  const warning = await ensureSearchAttributes(client, config.temporal.namespace);
  await client.connection.close();
  if (warning) ctx.out.info(`warning: ${warning}`);
  const connection = await connectWorker(config);
  const worker = await createWorker(config, connection);
  const metrics = options.metrics ? await serveMetrics(config, options.metrics) : undefined;
  if (metrics) ctx.out.info(`pgwarden worker: Prometheus metrics at ${metrics.url}`);
  ctx.out.info(
    `pgwarden worker: task queue "${config.temporal.taskQueue}" (and "${hostTaskQueue(config)}" for this host's PITR steps) in namespace "${config.temporal.namespace}" ` +
      `at ${config.temporal.address}; databases: ${Object.keys(config.databases).join(', ') || 'none'}; up to ${worker.maxConcurrentJobs} backup(s) and ` +
      `${worker.maxConcurrentJobs} restore(s) at once (worker.maxConcurrentJobs). Ctrl-C stops it.`,
  );
  const grace = formatDuration(config.worker.shutdownGraceTime);
  const announce = (signal: string) =>
    ctx.out.info(`pgwarden worker: ${signal}: no new work; running activities get ${grace} (worker.shutdownGraceTime) to finish, then the rest is handed to another worker.`);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, announce);
  // Its Workers run until a shutdown signal; the connection closes only once all of them have stopped.
  try {
    await worker.run();
  } finally {
    await metrics?.close();
    await connection.close();
  }
}
