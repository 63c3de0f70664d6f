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
  const forward = (req: IncomingMessage, res: ServerResponse, expectContinue: boolean) => {
    requests.push(`${req.method} ${req.url}`);
    const up = request({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    // A server that answers before reading the whole body may close its side while the rest is still being sent:
    // the answer already on its way to the client stands.
    up.on('error', () => {
      if (!res.headersSent) res.destroy();
    });
    req.on('error', () => up.destroy());
    // "Expect: 100-continue" (the SDK sends it with large bodies): the body follows only if the server wants it,
    // so that an early answer (412 for a conditional PUT) reaches the client as the server gave it.
    if (expectContinue) {
      up.on('continue', () => {
        res.writeContinue();
        req.pipe(up);
      });
      up.flushHeaders();
    } else {
      req.pipe(up);
    }
  };
  const server = createServer((req, res) => forward(req, res, false));
  server.keepAliveTimeout = 60_000; // a client on a loaded machine may pause long between two requests
  server.on('checkContinue', (req, res) => forward(req, res, true));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    reset: () => void requests.splice(0),
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
