// The alert channels' part of `pgwarden config check`: each channel's variables set and its URL well formed, and
// with --send-test a test alert (trigger, then resolve) that the service must accept.
import { notifier } from '../../activities/notify/notifier.js';
import type { Alert } from '../../activities/notify/channel.js';
import { resolveSecret } from '../../config/secrets.js';
import type { Config } from '../../config/schema.js';
import { PgwardenError } from '../../domain/errors.js';
import type { AlertRule } from '../../domain/alerts.js';

function wellFormedUrl(value: string, what: string, variable: string): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new PgwardenError('Config', `${what} in ${variable} is not a URL: set it to the full https://… address the service gave you.`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new PgwardenError('Config', `${what} in ${variable} must be an http(s) URL, not ${url.protocol}`);
  return url;
}

/** A test alert: its own dedup key (pgwarden/config-check/channel-test), resolved right after, so it pages nobody for long. */
function testAlert(action: 'trigger' | 'resolve'): Alert {
  const now = new Date().toISOString();
  return {
    database: 'config-check',
    rule: 'channel-test' as AlertRule,
    severity: 'SEV-1',
    action,
    summary: 'test alert from `pgwarden config check --send-test`: this channel works (resolved at once)',
    since: now,
    observedAt: now,
    generation: 0,
  };
}

/** [what, check] per configured channel. */
export function channelChecks(config: Config, sendTest: boolean): Array<[string, () => Promise<string>]> {
  const a = config.alerts;
  const checks: Array<[string, () => Promise<string>]> = [];
  const send = async (channel: 'slack' | 'pagerduty' | 'webhook'): Promise<string> => {
    if (!sendTest) return '';
    const n = notifier(config, channel);
    await n.notify(testAlert('trigger'));
    await n.notify(testAlert('resolve'));
    return '; test alert sent and resolved';
  };
  if (a.slack) {
    checks.push([
      'alert channel slack',
      async () => {
        const url = wellFormedUrl(resolveSecret({ env: a.slack!.webhookUrlEnv }, 'the Slack webhook URL'), 'the Slack webhook URL', a.slack!.webhookUrlEnv);
        return `webhook at ${url.host} from ${a.slack!.webhookUrlEnv}, ${a.slack!.minSeverity} and up${await send('slack')}`;
      },
    ]);
  }
  if (a.pagerduty) {
    checks.push([
      'alert channel pagerduty',
      async () => {
        const key = resolveSecret({ env: a.pagerduty!.routingKeyEnv }, 'the PagerDuty routing key');
        if (!/^[A-Za-z0-9]{32}$/.test(key)) throw new PgwardenError('Config', `the PagerDuty routing key in ${a.pagerduty!.routingKeyEnv} is not 32 letters and digits: copy the integration key of an Events API v2 integration.`);
        const url = wellFormedUrl(a.pagerduty!.url, 'alerts.pagerduty.url', 'pgwarden.yaml');
        return `Events API v2 at ${url.host}, routing key from ${a.pagerduty!.routingKeyEnv}, ${a.pagerduty!.minSeverity} and up${await send('pagerduty')}`;
      },
    ]);
  }
  if (a.webhook) {
    checks.push([
      'alert channel webhook',
      async () => {
        const url = wellFormedUrl(resolveSecret({ env: a.webhook!.urlEnv }, 'the alert webhook URL'), 'the alert webhook URL', a.webhook!.urlEnv);
        if (a.webhook!.authorizationEnv) resolveSecret({ env: a.webhook!.authorizationEnv }, 'the alert webhook Authorization header');
        return `POST to ${url.host} from ${a.webhook!.urlEnv}${await send('webhook')}`;
      },
    ]);
  }
  if (a.healthchecks) {
    checks.push([
      'healthchecks pings',
      async () => {
        resolveSecret({ env: a.healthchecks!.pingKeyEnv }, 'the healthchecks ping key');
        return `${wellFormedUrl(a.healthchecks!.baseUrl, 'alerts.healthchecks.baseUrl', 'pgwarden.yaml').host}, ping key from ${a.healthchecks!.pingKeyEnv}`;
      },
    ]);
  }
  return checks;
}
