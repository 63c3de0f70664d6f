// pgwarden worker: runs workflows and activities until SIGINT/SIGTERM (in-flight activities then finish or time out).
import { connectClient, connectWorker, ensureSearchAttributes } from '../../worker/temporal.js';
import { serveMetrics } from '../../worker/metrics.js';
import { createWorker } from '../../worker/worker.js';
import type { CommandContext } from '../context.js';

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
    `pgwarden worker: task queue "${config.temporal.taskQueue}" in namespace "${config.temporal.namespace}" at ${config.temporal.address}; ` +
      `databases: ${Object.keys(config.databases).join(', ') || 'none'}; up to ${worker.maxConcurrentJobs} backup(s) and ${worker.maxConcurrentJobs} restore(s) at once ` +
      `(worker.maxConcurrentJobs). Ctrl-C stops it.`,
  );
  try {
    await worker.run();
  } finally {
    await metrics?.close();
    await connection.close();
  }
}
