// Sends what a job or the monitor found: evaluates a job's outcome against the rules, records each rule's state
// (dedupe, reminders, resolves), then delivers to every channel and pings healthchecks, each retried with backoff.
// Jobs start it as an abandoned child: a notifier that is down never fails or delays them.
import { patched, proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import { outcomeObservations } from '../domain/alert-rules.js';
import type { AlertNotification, NotifyInput } from '../domain/alerts.js';
import { rowsDroppedObservation } from '../domain/contents.js';
import type { BackupKind } from '../domain/kinds.js';
import { checkInput } from './input.js';
import { NOTIFY, QUICK } from './policies.js';
import { tagRun } from './tags.js';

const quick = proxyActivities<Activities>(QUICK);
const send = proxyActivities<Activities>(NOTIFY);

/** A backup's tables are compared with the previous backup of its kind (the rows-dropped rule). */
const ROWS_DROPPED_PATCH = 'pgwarden-rows-dropped-v1';
/** A manual backup has no series to belong to: nothing before it is "the previous one". */
const COMPARED_KINDS = ['daily', 'weekly', 'monthly', 'pre-migration'];

export interface NotifyResult {
  database: string;
  sent: string[]; // "pagerduty: trigger backup-too-small"
  skipped: string[];
  failed: string[];
}

export async function notifyWorkflow(raw: NotifyInput): Promise<NotifyResult> {
  const input = checkInput<NotifyInput>('notifyWorkflow', raw, { database: { type: 'string', required: true } }, '{"database": "cartly", "outcome": {…}}', [
    'outcome',
    'observations',
    'notifications',
    'channels',
    'ping',
  ]);
  tagRun(input.database, 'notify');
  let notifications: AlertNotification[] = input.notifications ?? [];
  let channels = input.channels ?? [];
  let observations = input.observations ?? [];
  if (input.outcome) {
    let outcome = input.outcome;
    if (outcome.ok && outcome.rule === 'backup-failed' && outcome.backupId) {
      // The size rule judges the table data the backup holds, which its manifest knows.
      const facts = await quick.backupFacts({ database: input.database, backupId: outcome.backupId }).catch(() => undefined);
      if (facts) outcome = { ...outcome, ...facts };
    }
    const thresholds = await quick.alertThresholds({ database: input.database });
    observations = outcomeObservations(outcome, thresholds);
    if (outcome.ok && outcome.rule === 'backup-failed' && outcome.backupId && COMPARED_KINDS.includes(outcome.job) && thresholds.rowsDropped && patched(ROWS_DROPPED_PATCH)) {
      // A comparison that cannot be made (the manifest removed meanwhile) says nothing either way.
      const comparison = await quick.compareWithPreviousBackup({ database: input.database, backupId: outcome.backupId, kind: outcome.job as BackupKind }).catch(() => undefined);
      const observation = comparison && rowsDroppedObservation(comparison, outcome.finishedAt, { workflowId: outcome.workflowId, runId: outcome.runId });
      if (observation) observations.push(observation);
    }
  }
  if (observations.length > 0) {
    const recorded = await quick.recordAlerts({ database: input.database, observations });
    notifications = [...notifications, ...recorded.notifications];
    channels = recorded.channels;
  }
  const result: NotifyResult = { database: input.database, sent: [], skipped: [], failed: [] };
  const deliveries = notifications.flatMap((n) =>
    channels.map(async (channel) => {
      const what = `${channel}: ${n.action} ${n.rule}`;
      try {
        const outcome = await send.deliverAlert({ channel: channel as never, notification: n });
        (outcome.sent ? result.sent : result.skipped).push(outcome.sent ? what : `${what} (${outcome.reason})`);
      } catch (error) {
        result.failed.push(`${what}: ${(error as Error).message}`);
      }
    }),
  );
  if (input.ping) {
    const ping = input.ping;
    deliveries.push(
      send.pingHealthcheck({ database: input.database, ping }).then(
        (r) => void (r.sent ? result.sent.push(`healthchecks: ${ping.job} ${ping.event}`) : undefined),
        (error: Error) => void result.failed.push(`healthchecks: ${error.message}`),
      ),
    );
  }
  await Promise.all(deliveries);
  return result;
}
