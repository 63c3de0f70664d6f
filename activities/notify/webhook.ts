// A generic webhook: the alert as one JSON object, for chat bridges, ticket systems or your own automation.
import type { Severity } from '../../domain/alerts.js';
import { post } from './http.js';
import { dedupKey } from '../../domain/alerts.js';
import type { Alert, Notifier } from './channel.js';

export function webhookBody(alert: Alert): Record<string, unknown> {
  return {
    source: 'pgwarden',
    action: alert.action, // trigger | remind | resolve
    firing: alert.action !== 'resolve',
    database: alert.database,
    rule: alert.rule,
    severity: alert.severity,
    summary: alert.summary,
    since: alert.since,
    observedAt: alert.observedAt,
    dedupKey: dedupKey(alert),
    details: alert.details ?? {},
    ...(alert.url ? { url: alert.url } : {}),
  };
}

export function webhook(url: string, authorization: string | undefined, minSeverity: Severity): Notifier {
  return {
    channel: 'webhook',
    minSeverity,
    async notify(alert) {
      await post('the alert webhook', url, webhookBody(alert), authorization ? { authorization } : {});
    },
  };
}
