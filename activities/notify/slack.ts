// Slack incoming webhook: one readable message per alert (database, what, since when, link to the run).
// https://api.slack.com/messaging/webhooks: POST JSON {text, blocks}; 200 "ok"; 4xx names what is wrong.
import type { Severity } from '../../domain/alerts.js';
import { post } from './http.js';
import { ruleTitle } from '../../domain/alerts.js';
import type { Alert, Notifier } from './channel.js';

const ICON = { trigger: ':rotating_light:', remind: ':repeat:', resolve: ':white_check_mark:' } as const;

export function slackText(alert: Alert): { headline: string; body: string; context: string } {
  const since = alert.since.replace('T', ' ').replace(/\.\d+Z$|Z$/, ' UTC');
  const state = alert.action === 'resolve' ? 'resolved' : alert.action === 'remind' ? 'still firing' : alert.severity;
  return {
    headline: `${ICON[alert.action]} *${state}* · *${alert.database}* · ${ruleTitle(alert.rule)}`,
    body: alert.summary,
    context: `${alert.action === 'resolve' ? 'was firing since' : 'since'} ${since} · ${alert.severity}${alert.url ? ` · <${alert.url}|workflow in the Temporal UI>` : ''}`,
  };
}

export function slack(webhookUrl: string, minSeverity: Severity): Notifier {
  return {
    channel: 'slack',
    minSeverity,
    async notify(alert) {
      const text = slackText(alert);
      await post('Slack', webhookUrl, {
        text: `${text.headline}: ${text.body}`, // notifications and clients without blocks
        blocks: [
          { type: 'section', text: { type: 'mrkdwn', text: `${text.headline}\n${text.body}` } },
          { type: 'context', elements: [{ type: 'mrkdwn', text: text.context }] },
        ],
      });
    },
  };
}
