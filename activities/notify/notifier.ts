// Picks the alert channels pgwarden.yaml configures and builds each with its secrets (channels: one file each).
import { resolveSecret } from '../../config/secrets.js';
import type { Config } from '../../config/schema.js';
import type { Severity } from '../../domain/alerts.js';
import { CHANNELS, type ChannelName, type Notifier } from './channel.js';
import { pagerduty } from './pagerduty.js';
import { slack } from './slack.js';
import { webhook } from './webhook.js';

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
