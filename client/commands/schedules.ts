// pgwarden schedules apply|list: the runbook's backup schedules as Temporal Schedules (not cron).
import { connectClient } from '../../worker/temporal.js';
import type { CommandContext } from '../context.js';
import { applySchedules, plannedSchedules } from '../schedules.js';

export async function schedulesApplyCommand(ctx: CommandContext, options: { db?: string; dryRun: boolean }): Promise<void> {
  const planned = plannedSchedules(ctx.config, options.db);
  if (options.dryRun) {
    ctx.out.result(planned.map(({ scheduleId, when, input }) => ({ scheduleId, when, input })), () => planned.map((p) => `${p.scheduleId.padEnd(36)} ${p.when}`).join('\n'));
    return;
  }
  const client = await connectClient(ctx.config);
  try {
    const results = await applySchedules(client, ctx.config, planned);
    ctx.out.result(results, () =>
      results.map((r, i) => `${r.outcome.padEnd(8)} ${r.scheduleId.padEnd(36)} ${planned[i]!.when}`).join('\n') +
        '\nEach run waits for any running job of the same database (one at a time); retention runs daily.',
    );
  } finally {
    await client.connection.close();
  }
}
