// pgwarden schedules apply: the runbook's backup schedules as Temporal Schedules (not cron); schedules the
// configuration no longer asks for are removed.
import { PgwardenError } from '../../domain/errors.js';
import { connectClient } from '../../worker/temporal.js';
import type { CommandContext } from '../context.js';
import { applySchedules, plannedSchedules, removeSchedules, staleSchedules, unpauseCommand, type AppliedSchedule, type StaleSchedule } from '../schedules.js';

export async function schedulesApplyCommand(ctx: CommandContext, options: { db?: string; dryRun: boolean }): Promise<void> {
  const planned = plannedSchedules(ctx.config, options.db);
  const removals = (stale: StaleSchedule[]) => stale.map((s) => `${'remove'.padEnd(8)} ${s.scheduleId.padEnd(36)} ${s.reason}`);
  if (options.dryRun) {
    // What would go needs Temporal; without it the plan alone is still worth showing.
    let stale: StaleSchedule[] | undefined;
    let note = '';
    try {
      const client = await connectClient(ctx.config);
      try {
        stale = await staleSchedules(client, ctx.config, planned, options.db);
      } finally {
        await client.connection.close();
      }
    } catch (error) {
      if (!(error instanceof PgwardenError && error.kind === 'Unavailable')) throw error;
      note = `\n(${error.message.split(' (')[0]}: schedules to remove are not shown)`;
    }
    ctx.out.result(
      { planned: planned.map(({ scheduleId, when, input }) => ({ scheduleId, when, input })), ...(stale ? { remove: stale } : {}) },
      () => [...planned.map((p) => `${p.scheduleId.padEnd(45)} ${p.when}`), ...removals(stale ?? [])].join('\n') + note,
    );
    return;
  }
  const client = await connectClient(ctx.config);
  try {
    const results = await applySchedules(client, ctx.config, planned);
    const stale = await staleSchedules(client, ctx.config, planned, options.db);
    await removeSchedules(client, stale);
    ctx.out.result(
      [...results, ...stale.map((s) => ({ scheduleId: s.scheduleId, outcome: 'removed' as const, reason: s.reason }))],
      () =>
        [...results.map((r, i) => `${r.outcome.padEnd(8)} ${r.scheduleId.padEnd(36)} ${planned[i]!.when}${keptPaused(r)}`), ...removals(stale).map((l) => l.replace(/^remove  /, 'removed '))].join('\n') +
        '\nEach run waits for any running job of the same database (one at a time); retention runs daily.',
    );
  } finally {
    await client.connection.close();
  }
}

/** What the line of a schedule that stays paused adds: that it does not run, why, and how to resume it. */
function keptPaused(r: AppliedSchedule): string {
  if (!r.paused) return '';
  return `\n         KEPT PAUSED${r.pauseNote ? ` (${r.pauseNote})` : ''}: it starts nothing until resumed with: ${unpauseCommand(r.scheduleId)}`;
}
