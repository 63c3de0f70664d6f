// One HTTP POST to a notification service, with the service's answer turned into pgwarden's failure kinds:
// a service that is down or throttling is worth retrying (Temporal does, with backoff); a URL or key it refuses is not.
import { PgwardenError } from '../../domain/errors.js';

export interface PostResult {
  status: number;
  body: string;
}

const TIMEOUT_MS = 15_000;

/** POSTs `body` (JSON unless a string); `service` names it in errors ("Slack", "PagerDuty"). Never logs the URL: it may hold a secret. */
export async function post(service: string, url: string, body: unknown, headers: Record<string, string> = {}): Promise<PostResult> {
  let response: Response;
  try {
    response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': typeof body === 'string' ? 'text/plain; charset=utf-8' : 'application/json', 'user-agent': 'pgwarden', ...headers },
      body: typeof body === 'string' ? body : JSON.stringify(body),
      signal: AbortSignal.timeout(TIMEOUT_MS),
      redirect: 'follow',
    });
  } catch (error) {
    throw new PgwardenError('Unavailable', `${service} could not be reached: ${(error as Error).cause instanceof Error ? ((error as Error).cause as Error).message : (error as Error).message}.`, {
      cause: error,
    });
  }
  const text = (await response.text().catch(() => '')).slice(0, 500);
  if (response.ok) return { status: response.status, body: text };
  const detail = `${service} answered HTTP ${response.status}${text ? `: ${text.replace(/\s+/g, ' ').trim()}` : ''}`;
  // Throttled, timed out, or broken on their side: try again later. Anything else is our request or our key.
  if (response.status === 429 || response.status === 408 || response.status >= 500) throw new PgwardenError('Unavailable', `${detail}; retrying.`);
  throw new PgwardenError('Config', `${detail}. Check the URL or key in the environment variable pgwarden.yaml names for ${service}.`);
}
