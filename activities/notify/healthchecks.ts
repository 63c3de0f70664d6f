// healthchecks.io pings per job run: <base>/<ping key>/<database>-<job>[/start|/fail], with the run id so that
// healthchecks pairs start and end (and measures the duration itself), the duration also in the body.
// https://healthchecks.io/docs/http_api/: slug URLs, ?create=1 makes a missing check, ?rid= a run id; 200 "OK".
import type { JobPing } from '../../domain/alerts.js';
import { post } from './http.js';

export function healthchecksUrl(baseUrl: string, pingKey: string, database: string, ping: JobPing): string {
  const suffix = ping.event === 'start' ? '/start' : ping.event === 'fail' ? '/fail' : '';
  const slug = `${database}-${ping.job}`.toLowerCase().replace(/[^a-z0-9_-]/g, '-');
  return `${baseUrl.replace(/\/$/, '')}/${encodeURIComponent(pingKey)}/${slug}${suffix}?create=1&rid=${encodeURIComponent(ping.runId)}`;
}

export async function pingHealthchecks(baseUrl: string, pingKey: string, database: string, ping: JobPing): Promise<void> {
  await post('healthchecks', healthchecksUrl(baseUrl, pingKey, database, ping), ping.message);
}
