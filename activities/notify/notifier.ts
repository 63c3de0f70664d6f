// The one shape every alert channel has: notify(alert). Each channel is its own file; this picks the configured ones.
import { resolveSecret } from '../../config/secrets.js';
import type { Config } from '../../config/schema.js';
import type { AlertNotification, Severity } from '../../workflows/messages.js';
import { pagerduty } from './pagerduty.js';
import { slack } from './slack.js';
import { webhook } from './webhook.js';

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

export const CHANNELS = ['slack', 'pagerduty', 'webhook'] as const;
export type ChannelName = (typeof CHANNELS)[number];

/** SEV-1 is more severe than SEV-2: does `severity` reach `minimum`? */
export function reaches(severity: Severity, minimum: Severity): boolean {
  return Number(severity.slice(4)) <= Number(minimum.slice(4));
}

/** The channels pgwarden.yaml configures (secrets resolved only when one is used). */
export function configuredChannels(config: Config): ChannelName[] {
  return CHANNELS.filter((name) => config.alerts[name] !== undefined);
}

export function notifier(config: Config, channel: ChannelName): Notifier {
  const a = config.alerts;
  const secret = (env: string, what: string) => resolveSecret({ env }, what);
  switch (channel) {
    case 'slack':
      return slack(secret(a.slack!.webhookUrlEnv, 'the Slack webhook URL'), a.slack!.minSeverity);
    case 'pagerduty':
      return pagerduty(secret(a.pagerduty!.routingKeyEnv, 'the PagerDuty routing key'), a.pagerduty!.url, a.pagerduty!.minSeverity);
    case 'webhook':
      return webhook(
        secret(a.webhook!.urlEnv, 'the alert webhook URL'),
        a.webhook!.authorizationEnv ? secret(a.webhook!.authorizationEnv, 'the alert webhook Authorization header') : undefined,
        a.webhook!.minSeverity,
      );
  }
}

/** The stable identity of an alert: one PagerDuty incident per database and rule, however often it fires. */
export function dedupKey(alert: Pick<AlertNotification, 'database' | 'rule'>): string {
  return `pgwarden/${alert.database}/${alert.rule}`;
}

/** "backup-too-old" -> "backup too old". */
export function ruleTitle(rule: string): string {
  return rule.replace(/-/g, ' ');
}
