// What every alert channel (Slack, PagerDuty, a webhook) is: a name, a minimum severity and notify(alert).
import type { AlertNotification, Severity } from '../../domain/alerts.js';

export const CHANNELS = ['slack', 'pagerduty', 'webhook'] as const;
export type ChannelName = (typeof CHANNELS)[number];

/** An alert as a channel sends it: the notification plus the Temporal UI link, resolved in the worker. */
export interface Alert extends AlertNotification {
  /** The run's page in the Temporal UI, when known. */
  url?: string;
}

export interface Notifier {
  readonly channel: ChannelName;
  /** Alerts below this severity are not sent on this channel. */
  readonly minSeverity: Severity;
  notify(alert: Alert): Promise<void>;
}
