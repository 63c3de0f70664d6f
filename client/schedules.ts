// The runbook's schedules as Temporal Schedules: what `pgwarden schedules apply` creates or updates.
import type { CalendarSpec, Client, ScheduleSpec } from '@temporalio/client';
import { ScheduleOverlapPolicy, ScheduleNotFoundError } from '@temporalio/client';
import { databaseView } from '../config/load.js';
import type { Config } from '../config/schema.js';
import type { ScheduledInput } from '../domain/schedules.js';

export interface PlannedSchedule {
  scheduleId: string;
  database: string;
  job: 'daily' | 'weekly' | 'monthly' | 'basebackup' | 'expire' | 'drill' | 'verify' | 'monitor';
  /** For people: "daily 02:00 UTC" or the cron expression. */
  when: string;
  spec: ScheduleSpec;
  input: ScheduledInput;
}

const DEFAULTS: Record<PlannedSchedule['job'], { when: string; calendar?: CalendarSpec; every?: string }> = {
  daily: { when: 'every day 02:00 UTC', calendar: { hour: 2, minute: 0 } },
  weekly: { when: 'Sundays 01:00 UTC', calendar: { dayOfWeek: 'SUNDAY', hour: 1, minute: 0 } },
  // "first Monday": Monday AND day 1-7 (a cron expression would read that as Monday OR day 1-7).
  monthly: { when: 'first Monday of the month 00:00 UTC', calendar: { dayOfWeek: 'MONDAY', dayOfMonth: { start: 1, end: 7 }, hour: 0, minute: 0 } },
  basebackup: { when: 'every day 03:00 UTC', calendar: { hour: 3, minute: 0 } },
  expire: { when: 'every day 05:00 UTC', calendar: { hour: 5, minute: 0 } },
  // The runbook's monthly restore test, after the night's backups; integrity checks weekly; ages and lags often.
  drill: { when: 'first day of the month 04:00 UTC', calendar: { dayOfMonth: 1, hour: 4, minute: 0 } },
  verify: { when: 'Sundays 06:00 UTC', calendar: { dayOfWeek: 'SUNDAY', hour: 6, minute: 0 } },
  monitor: { when: 'every 15 minutes', every: '15 minutes' },
};

export function plannedSchedules(config: Config, only?: string): PlannedSchedule[] {
  const planned: PlannedSchedule[] = [];
  for (const database of only ? [only] : Object.keys(config.databases)) {
    const db = databaseView(config, database);
    for (const job of Object.keys(DEFAULTS) as Array<PlannedSchedule['job']>) {
      const setting = db.settings.schedules?.[job];
      if (setting === false || (job === 'basebackup' && !db.settings.pitr)) continue;
      const fallback = DEFAULTS[job];
      const spec: ScheduleSpec =
        typeof setting === 'string' ? { cronExpressions: [setting] } : fallback.every ? { intervals: [{ every: fallback.every as '15 minutes' }] } : { calendars: [fallback.calendar!] };
      const input: ScheduledInput =
        job === 'daily' || job === 'weekly' || job === 'monthly' ? { database, operation: 'backup', kind: job } : { database, operation: job };
      planned.push({ scheduleId: `pgwarden-${database}-${job}`, database, job, when: typeof setting === 'string' ? `cron "${setting}" (UTC)` : DEFAULTS[job].when, spec, input });
    }
  }
  return planned;
}

export interface StaleSchedule {
  scheduleId: string;
  database: string;
  /** Why the configuration no longer asks for it. */
  reason: string;
}

/**
 * pgwarden's own schedules that the configuration no longer asks for: a job set to `false`, base backups without
 * `pitr:`, or a database removed from pgwarden.yaml (all of them, or those of database `only`). A schedule is
 * pgwarden's when `schedules apply` made it: id `pgwarden-…`, action `scheduledWorkflow` on this configuration's
 * task queue, memo `pgwarden`. Nothing else is ever touched.
 */
export async function staleSchedules(client: Client, config: Config, planned: PlannedSchedule[], only?: string): Promise<StaleSchedule[]> {
  const wanted = new Set(planned.map((p) => p.scheduleId));
  const candidates = new Set<string>();
  for await (const summary of client.schedule.list()) {
    if (summary.scheduleId.startsWith('pgwarden-') && summary.action?.workflowType === 'scheduledWorkflow') candidates.add(summary.scheduleId);
  }
  // The list comes from the visibility store, which can lag behind a schedule made a moment ago: the ids a
  // configured database's jobs would have are looked up directly as well.
  for (const database of only ? [only] : Object.keys(config.databases)) {
    for (const job of Object.keys(DEFAULTS)) candidates.add(`pgwarden-${database}-${job}`);
  }
  const stale: StaleSchedule[] = [];
  for (const scheduleId of [...candidates].sort()) {
    if (wanted.has(scheduleId)) continue;
    let description;
    try {
      description = await client.schedule.getHandle(scheduleId).describe();
    } catch (error) {
      if (error instanceof ScheduleNotFoundError) continue;
      throw error;
    }
    const action = description.action;
    const input = action.args?.[0] as Partial<ScheduledInput> | undefined;
    const ours = action.workflowType === 'scheduledWorkflow' && action.taskQueue === config.temporal.taskQueue && description.memo?.pgwarden !== undefined;
    if (!ours || typeof input?.database !== 'string' || (only !== undefined && input.database !== only)) continue;
    const job = input.operation === 'backup' ? input.kind : input.operation;
    const settings = config.databases[input.database];
    const reason = !settings
      ? `database "${input.database}" is no longer in the configuration`
      : job === 'basebackup' && !settings.pitr
        ? `databases.${input.database}.pitr is not set`
        : `databases.${input.database}.schedules.${job} is false`;
    stale.push({ scheduleId, database: input.database, reason });
  }
  return stale;
}

/** Deletes schedules that staleSchedules found. */
export async function removeSchedules(client: Client, stale: StaleSchedule[]): Promise<void> {
  for (const schedule of stale) {
    try {
      await client.schedule.getHandle(schedule.scheduleId).delete();
    } catch (error) {
      if (!(error instanceof ScheduleNotFoundError)) throw error;
    }
  }
}

export interface AppliedSchedule {
  scheduleId: string;
  outcome: 'created' | 'updated';
  /** The schedule was paused (by someone, in the UI or with the temporal CLI) and stays paused: apply never resumes one. */
  paused?: true;
  /** Why it is paused, when the pause gave a reason. */
  pauseNote?: string;
}

/** The command that resumes a paused schedule, for the messages that say one is kept paused. */
export const unpauseCommand = (scheduleId: string) => `temporal schedule toggle --schedule-id ${scheduleId} --unpause --reason "..."`;

/**
 * Creates each schedule, or brings an existing one up to date; returns what happened to each. The readable "when"
 * goes into the schedule's note (and a calendar's comment), which the Temporal UI shows, as well as into the memo
 * that marks the schedule as pgwarden's; a paused schedule keeps its pause and the note that says why.
 */
export async function applySchedules(client: Client, config: Config, planned: PlannedSchedule[]): Promise<AppliedSchedule[]> {
  const results: AppliedSchedule[] = [];
  for (const schedule of planned) {
    const action = {
      type: 'startWorkflow' as const,
      workflowType: 'scheduledWorkflow',
      workflowId: `pgwarden-scheduled-${schedule.database}-${schedule.job}`,
      args: [schedule.input],
      taskQueue: config.temporal.taskQueue,
    };
    // SKIP: a run still going when the next is due makes the next one wait for the following slot.
    const policies = { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: '1 hour' };
    const note = `pgwarden: ${schedule.job} ${schedule.job === 'daily' || schedule.job === 'weekly' || schedule.job === 'monthly' ? 'backup ' : ''}of ${schedule.database}, ${schedule.when}`;
    const spec: ScheduleSpec = { ...schedule.spec, ...(schedule.spec.calendars ? { calendars: schedule.spec.calendars.map((c) => ({ ...c, comment: note })) } : {}) };
    const handle = client.schedule.getHandle(schedule.scheduleId);
    let previous;
    try {
      previous = await handle.describe();
    } catch (error) {
      if (!(error instanceof ScheduleNotFoundError)) throw error;
    }
    if (!previous) {
      await client.schedule.create({ scheduleId: schedule.scheduleId, spec, action, policies, state: { note }, memo: { pgwarden: schedule.when } });
      results.push({ scheduleId: schedule.scheduleId, outcome: 'created' });
      continue;
    }
    const paused = previous.state.paused;
    const pauseNote = paused && previous.state.note && !previous.state.note.startsWith('pgwarden: ') ? previous.state.note : undefined;
    await handle.update((current) => ({
      ...current,
      spec,
      action,
      policies: { ...current.policies, ...policies },
      // A pause is the operator's decision, and its note their reason: both stay as they are.
      state: current.state.paused ? { ...current.state } : { ...current.state, note },
    }));
    results.push({ scheduleId: schedule.scheduleId, outcome: 'updated', ...(paused ? { paused: true as const } : {}), ...(pauseNote ? { pauseNote } : {}) });
  }
  return results;
}
