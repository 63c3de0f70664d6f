// pgwarden worker: runs workflows and activities until SIGINT/SIGTERM (in-flight activities then finish or time out).
import { connectClient, connectWorker, ensureSearchAttributes } from '../../worker/temporal.js';
import { createHostWorker, createWorker } from '../../worker/worker.js';
import { hostTaskQueue } from '../../activities/pitr/host.js';
import type { CommandContext } from '../context.js';

export async function workerCommand(ctx: CommandContext): Promise<void> {
  const config = ctx.config;
  const client = await connectClient(config);
  const warning = await ensureSearchAttributes(client, config.temporal.namespace);
  await client.connection.close();
  if (warning) ctx.out.info(`warning: ${warning}`);
  const connection = await connectWorker(config);
  const worker = await createWorker(config, connection);
  const host = await createHostWorker(config, connection);
  ctx.out.info(
    `pgwarden worker: task queue "${config.temporal.taskQueue}" (and "${hostTaskQueue(config)}" for this host's PITR steps) in namespace "${config.temporal.namespace}" ` +
      `at ${config.temporal.address}; databases: ${Object.keys(config.databases).join(', ') || 'none'}. Ctrl-C stops it.`,
  );
  try {
    // Both run until a shutdown signal; if one stops for another reason, the other stops too.
    await Promise.all([worker.run().finally(() => host.shutdown()), host.run().finally(() => worker.shutdown())]);
  } finally {
    await connection.close();
  }
}
