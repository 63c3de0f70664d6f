// PagerDuty Events API v2: trigger (and re-trigger: same dedup_key, same incident) and resolve.
// https://developer.pagerduty.com/docs/events-api-v2/trigger-events/: POST /v2/enqueue, 202 {status, dedup_key}.
import type { Severity } from '../../domain/alerts.js';
import { post } from './http.js';
import { dedupKey, ruleTitle } from '../../domain/alerts.js';
import type { Alert, Notifier } from './channel.js';

/** The runbook's SEV-1 pages; its SEV-2 is the "warning" it configured for PagerDuty. */
export const PAGERDUTY_SEVERITY: Record<Severity, 'critical' | 'warning'> = { 'SEV-1': 'critical', 'SEV-2': 'warning' };

export function pagerdutyEvent(routingKey: string, alert: Alert): Record<string, unknown> {
  if (alert.action === 'resolve') return { routing_key: routingKey, event_action: 'resolve', dedup_key: dedupKey(alert) };
  return {
    routing_key: routingKey,
    event_action: 'trigger',
    dedup_key: dedupKey(alert),
    payload: {
      summary: `[${alert.severity}] ${alert.database}: ${ruleTitle(alert.rule)}: ${alert.summary}`.slice(0, 1024),
      source: `pgwarden/${alert.database}`,
      severity: PAGERDUTY_SEVERITY[alert.severity],
      timestamp: alert.observedAt,
      component: alert.database,
      group: 'pgwarden',
      class: alert.rule,
      custom_details: { since: alert.since, ...alert.details },
    },
    client: 'pgwarden',
    ...(alert.url ? { client_url: alert.url, links: [{ href: alert.url, text: 'Workflow in the Temporal UI' }] } : {}),
  };
}

export function pagerduty(routingKey: string, url: string, minSeverity: Severity): Notifier {
  return {
    channel: 'pagerduty',
    minSeverity,
    async notify(alert) {
      await post('PagerDuty', url, pagerdutyEvent(routingKey, alert));
    },
  };
}
