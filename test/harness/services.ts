// Local stand-ins for the services that cannot run here (Slack, PagerDuty, healthchecks.io, a webhook receiver):
// real HTTP servers on 127.0.0.1 that check each request against the service's documented shape and answer with
// its documented status codes. Tests read what arrived and can make a service fail for its next requests.
import { createServer, type IncomingMessage, type Server } from 'node:http';

export interface Received {
  method: string;
  path: string;
  query: Record<string, string>;
  headers: IncomingMessage['headers'];
  text: string;
  json?: any; // eslint-disable-line @typescript-eslint/no-explicit-any
  /** The status this server answered. */
  status: number;
}

export interface FakeService {
  url: string;
  received: Received[];
  /** Answer `status` to the next `times` requests (a service that is down). */
  failNext(times: number, status?: number): void;
  /** Waits until `match` holds for a received request; returns it. */
  waitFor(match: (r: Received) => boolean, timeoutMs?: number): Promise<Received>;
  stop(): Promise<void>;
}

type Judge = (r: Omit<Received, 'status'>) => { status: number; body: string; type?: string };

async function start(judge: Judge): Promise<FakeService> {
  const received: Received[] = [];
  let failures: { times: number; status: number } = { times: 0, status: 500 };
  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (c: Buffer) => chunks.push(c));
    request.on('end', () => {
      const url = new URL(request.url ?? '/', 'http://local');
      const text = Buffer.concat(chunks).toString('utf8');
      let json: unknown;
      if (/json/.test(request.headers['content-type'] ?? '')) {
        try {
          json = JSON.parse(text);
        } catch {
          json = undefined;
        }
      }
      const base = { method: request.method ?? '', path: url.pathname, query: Object.fromEntries(url.searchParams), headers: request.headers, text, json };
      let answer = judge(base);
      if (failures.times > 0) {
        failures.times -= 1;
        answer = { status: failures.status, body: 'internal error (test)' };
      }
      received.push({ ...base, status: answer.status });
      response.writeHead(answer.status, { 'content-type': answer.type ?? 'text/plain' }).end(answer.body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}`,
    received,
    failNext: (times, status = 500) => (failures = { times, status }),
    async waitFor(match, timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const found = received.find(match);
        if (found) return found;
        if (Date.now() > deadline) throw new Error(`no matching request within ${timeoutMs} ms; received: ${JSON.stringify(received.map((r) => [r.path, r.status, r.json ?? r.text]))}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** Slack incoming webhook: JSON with `text` (or blocks); 200 "ok", else 400 "invalid_payload" / "no_text". */
export function fakeSlack(): Promise<FakeService> {
  return start((r) => {
    if (r.method !== 'POST') return { status: 405, body: 'invalid_method' };
    if (!r.json) return { status: 400, body: 'invalid_payload' };
    if (typeof r.json.text !== 'string' && !Array.isArray(r.json.blocks)) return { status: 400, body: 'no_text' };
    return { status: 200, body: 'ok' };
  });
}

/** PagerDuty Events API v2 (POST /v2/enqueue): 202 {status, message, dedup_key}, 400 for an invalid event. */
export function fakePagerDuty(): Promise<FakeService> {
  return start((r) => {
    const invalid = (errors: string[]) => ({ status: 400, type: 'application/json', body: JSON.stringify({ status: 'invalid event', message: 'Event object is invalid', errors }) });
    if (r.method !== 'POST' || r.path !== '/v2/enqueue') return { status: 404, body: 'not found' };
    const e = r.json;
    if (!e) return invalid(['body is not JSON']);
    const errors: string[] = [];
    if (typeof e.routing_key !== 'string' || e.routing_key.length === 0) errors.push("'routing_key' is missing or blank");
    if (!['trigger', 'acknowledge', 'resolve'].includes(e.event_action)) errors.push("'event_action' is invalid");
    if (e.dedup_key !== undefined && (typeof e.dedup_key !== 'string' || e.dedup_key.length > 255)) errors.push("'dedup_key' is invalid");
    if (e.event_action !== 'trigger' && !e.dedup_key) errors.push("'dedup_key' is required for acknowledge and resolve");
    if (e.event_action === 'trigger') {
      const p = e.payload;
      if (!p || typeof p.summary !== 'string' || p.summary.length === 0 || p.summary.length > 1024) errors.push("'payload.summary' is missing or too long");
      if (!p || typeof p.source !== 'string' || p.source.length === 0) errors.push("'payload.source' is missing");
      if (!p || !['critical', 'error', 'warning', 'info'].includes(p.severity)) errors.push("'payload.severity' must be critical, error, warning or info");
    }
    if (errors.length) return invalid(errors);
    return { status: 202, type: 'application/json', body: JSON.stringify({ status: 'success', message: 'Event processed', dedup_key: e.dedup_key ?? 'generated' }) };
  });
}

/** healthchecks.io ping API: /<ping-key>/<slug>[/start|/fail|/<exit status>]; 200 "OK", 201 "Created" with ?create=1. */
export function fakeHealthchecks(): Promise<FakeService> {
  const known = new Set<string>();
  return start((r) => {
    const match = /^\/([A-Za-z0-9_-]+)\/([a-z0-9_-]+)(\/(start|fail|log|\d+))?$/.exec(r.path);
    if (!match) return { status: 400, body: 'invalid url format' };
    const slug = `${match[1]}/${match[2]}`;
    if (!known.has(slug)) {
      if (r.query.create !== '1') return { status: 404, body: 'not found' };
      known.add(slug);
      return { status: 201, body: 'Created' };
    }
    return { status: 200, body: 'OK' };
  });
}

/** A receiver of the generic JSON webhook. */
export function fakeWebhook(): Promise<FakeService> {
  return start((r) => (r.json ? { status: 204, body: '' } : { status: 400, body: 'expected JSON' }));
}
