// A pass-through HTTP proxy in front of the test S3 server that counts the requests going through it: how many
// round trips a command makes is a fact of the code, not of the machine's load (tests and the benchmark read it).
import { createServer, request, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface CountingProxy {
  endpoint: string;
  /** "METHOD /path?query" of each request since the last reset, in order. */
  requests: string[];
  reset(): void;
  stop(): Promise<void>;
}

export async function startCountingProxy(upstream: string): Promise<CountingProxy> {
  const target = new URL(upstream);
  const requests: string[] = [];
  const forward = (req: IncomingMessage, res: ServerResponse) => {
    requests.push(`${req.method} ${req.url}`);
    // The client is told to go on at once (Node's server does that by itself) and its body waits here; upstream it goes
    // only once the server asks for it ("Expect: 100-continue", a header SigV4 leaves unsigned). A server that answers
    // at once (412 for a conditional PUT) then never drops a connection in mid-body, and its answer reaches the
    // client as it gave it, while the body nobody wanted is read and dropped.
    const hasBody = Number(req.headers['content-length'] ?? 0) > 0 || req.headers['transfer-encoding'] !== undefined;
    let answered = false;
    const up = request(
      {
        host: target.hostname,
        port: target.port,
        method: req.method,
        path: req.url,
        headers: hasBody ? { ...req.headers, expect: '100-continue' } : req.headers,
        agent: false, // a connection of its own per request: never one the server has just closed as idle
      },
      (answer) => {
        answered = true;
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
        req.resume(); // a body the server did not want is read and dropped
      },
    );
    up.on('error', () => {
      if (!answered) res.destroy();
    });
    req.on('error', () => up.destroy());
    if (hasBody) {
      up.on('continue', () => req.pipe(up));
      up.flushHeaders();
    } else {
      req.pipe(up);
    }
  };
  const server = createServer(forward);
  server.keepAliveTimeout = 60_000; // a client on a loaded machine may pause long between two requests
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    reset: () => void requests.splice(0),
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
