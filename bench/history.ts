// Where a workflow's time went, from its history: each activity's wait for a worker (scheduled → started) and its
// run (started → completed), and the workflow's own gaps between them (workflow tasks, child workflows). Event times
// are the Temporal server's clock; on one machine that is the benchmark's too.
import type { WorkflowHandle } from '@temporalio/client';

export interface ActivitySpan {
  activity: string;
  /** Milliseconds from the workflow's start. */
  scheduledAt: number;
  startedAt: number;
  completedAt: number;
}

export interface WorkflowTimeline {
  /** Epoch milliseconds of WorkflowExecutionStarted. */
  startedAt: number;
  /** Milliseconds from the start to WorkflowExecutionCompleted (undefined while it runs). */
  completedAt?: number;
  activities: ActivitySpan[];
}

type HistoryEvent = NonNullable<Awaited<ReturnType<WorkflowHandle['fetchHistory']>>['events']>[number];

const epochMs = (e: HistoryEvent | undefined) => Number(e?.eventTime?.seconds ?? 0) * 1000 + Math.floor((e?.eventTime?.nanos ?? 0) / 1e6);

export function timelineOf(events: HistoryEvent[]): WorkflowTimeline {
  const start = epochMs(events[0]);
  const byScheduled = (attr: 'activityTaskStartedEventAttributes' | 'activityTaskCompletedEventAttributes', id: unknown) =>
    events.find((e) => e[attr] && String(e[attr]!.scheduledEventId) === String(id));
  const activities = events
    .filter((e) => e.activityTaskScheduledEventAttributes)
    .map((scheduled) => ({
      activity: scheduled.activityTaskScheduledEventAttributes!.activityType?.name ?? '?',
      scheduledAt: epochMs(scheduled) - start,
      startedAt: epochMs(byScheduled('activityTaskStartedEventAttributes', scheduled.eventId)) - start,
      completedAt: epochMs(byScheduled('activityTaskCompletedEventAttributes', scheduled.eventId)) - start,
    }));
  const completed = events.find((e) => e.workflowExecutionCompletedEventAttributes);
  return { startedAt: start, ...(completed ? { completedAt: epochMs(completed) - start } : {}), activities };
}

export async function workflowTimeline(handle: WorkflowHandle): Promise<WorkflowTimeline> {
  return timelineOf((await handle.fetchHistory()).events ?? []);
}

/**
 * One line for a measurement's notes: "planPitr 0.012+0.081 s @0.05, …, completed @2.90 s": per activity its wait for
 * a worker + its run, and when (from the workflow's start) it was scheduled.
 */
export function describeTimeline(t: WorkflowTimeline): string {
  const s = (ms: number) => (ms / 1000).toFixed(3);
  const steps = t.activities.map((a) => `${a.activity} ${s(a.startedAt - a.scheduledAt)}+${s(a.completedAt - a.startedAt)} s @${s(a.scheduledAt)}`);
  return [...steps, ...(t.completedAt !== undefined ? [`completed @${s(t.completedAt)} s`] : [])].join(', ');
}
