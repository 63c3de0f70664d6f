// The monitor: every 15 minutes (its schedule), what the repositories and Temporal say about one database is
// evaluated against the alert rules (ages, lags, windows, stuck uploads), so that an alert fires even when
// nothing ran at all. Changes are recorded here; sending happens in an abandoned notification workflow, so a
// notifier that is down never holds up the next evaluation.
import { ParentClosePolicy, patched, proxyActivities, startChild, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import { healthObservations } from '../domain/alert-rules.js';
import type { MonitorInput, MonitorResult } from '../domain/health.js';
import { checkInput } from './input.js';
import { QUICK } from './policies.js';
import { tagRun } from './tags.js';

const quick = proxyActivities<Activities>(QUICK);

/** An unreadable repository is one alert and leaves the rules it holds unknown; the ping counts every firing alert. */
const UNKNOWN_PATCH = 'pgwarden-monitor-unknown-v1';

export async function monitorWorkflow(raw: MonitorInput): Promise<MonitorResult> {
  const input = checkInput<MonitorInput>('monitorWorkflow', raw, { database: { type: 'string', required: true } }, '{"database": "cartly"}');
  tagRun(input.database, 'monitor');
  const info = workflowInfo();
  const started = Date.now();
  const { health, thresholds } = await quick.observeDatabase({ database: input.database });
  const current = patched(UNKNOWN_PATCH);
  const observations = healthObservations(health, thresholds, Date.now(), { unknownWhenUnreadable: current });
  const recorded = await quick.recordAlerts({ database: input.database, observations });
  const firing = current && recorded.firing !== undefined ? recorded.firing : observations.filter((o) => o.firing).length;
  if (recorded.notifications.length > 0 || thresholds.pings) {
    await startChild('notifyWorkflow', {
      workflowId: `pgwarden-notify-${info.runId}`,
      args: [
        {
          database: input.database,
          notifications: recorded.notifications,
          channels: recorded.channels,
          // A dead-man's switch for the monitor itself: healthchecks alerts when these pings stop.
          ...(thresholds.pings ? { ping: { job: 'monitor', event: 'success', runId: info.runId, durationMs: Date.now() - started, message: `${firing} alert(s) firing` } } : {}),
        },
      ],
      parentClosePolicy: ParentClosePolicy.ABANDON,
    }).catch(() => undefined);
  }
  return { database: input.database, observations, notifications: recorded.notifications.length };
}
