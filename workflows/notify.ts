// Sends what a job or the monitor found: evaluates a job's outcome against the rules, records each rule's state
// (dedupe, reminders, resolves), then delivers to every channel and pings healthchecks, each retried with backoff.
// Jobs start it as an abandoned child: a notifier that is down never fails or delays them.
import { proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import { outcomeObservations } from '../domain/alert-rules.js';
import type { AlertNotification, NotifyInput } from '../domain/alerts.js';
import { checkInput } from './input.js';
import { NOTIFY, QUICK } from './policies.js';
import { tagRun } from './tags.js';

const quick = proxyActivities<Activities>(QUICK);
const send = proxyActivities<Activities>(NOTIFY);

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
    observations = outcomeObservations(outcome, await quick.alertThresholds({ database: input.database }));
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
