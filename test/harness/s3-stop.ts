// Stopping the test S3 server gracefully (SIGTERM, as a deploy or a systemd stop does) at a moment a test chooses,
// and a proxy that holds a transfer mid-way so that the moment is certain.
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { Agent, createServer, request, type IncomingMessage } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { TestS3 } from './s3.js';

/** The process listening on 127.0.0.1:`port`, from /proc (the harness keeps its versitygw to itself). */
function listener(port: number): number | undefined {
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  const inodes = new Set<string>();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try {
      text = readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      // local address, state 0A = LISTEN, inode
      if (fields[1]?.endsWith(`:${hexPort}`) && fields[3] === '0A' && fields[9]) inodes.add(fields[9]);
    }
  }
  for (const pid of readdirSync('/proc').filter((name) => /^\d+$/.test(name))) {
    let fds: string[] = [];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        const target = readlinkSync(`/proc/${pid}/fd/${fd}`);
        if (inodes.has(/^socket:\[(\d+)\]$/.exec(target)?.[1] ?? '')) return Number(pid);
      } catch {
        /* gone meanwhile */
      }
    }
  }
  return undefined;
}

/**
 * SIGTERM to the S3 server; resolves once it accepts no more connections. `restart()` brings it back (killing what
 * is left of the old one, which may still be finishing requests that were in flight) on the same port and data.
 */
export async function stopGracefully(s3: TestS3): Promise<{ restart: () => Promise<void> }> {
  const port = Number(new URL(s3.endpoint).port);
  const pid = listener(port);
  if (pid === undefined) throw new Error(`no process listens on port ${port}`);
  process.kill(pid, 'SIGTERM');
  for (;;) {
    const refused = await fetch(s3.endpoint).then(() => false, () => true);
    if (refused) break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return {
    restart: async () => {
      await s3.down(); // the harness's own handle on the old process: SIGKILL if it still runs, then forgotten
      await s3.up();
    },
  };
}

export interface HoldingProxy {
  endpoint: string;
  /** Resolves once a first transfer is held. */
  held: Promise<void>;
  stop(): Promise<void>;
}

/**
 * A proxy in front of the S3 server. Each request that `hold` picks is passed on until `bytes` of it (its request
 * body for 'upload', its answer for 'download') have gone through, then nothing more moves either way: the
 * connection stays open and silent, as a server that stopped mid-transfer without closing it leaves it.
 */
export async function holdingProxy(upstream: string, hold: (req: IncomingMessage) => boolean, direction: 'upload' | 'download', bytes: number): Promise<HoldingProxy> {
  const target = new URL(upstream);
  const sockets = new Set<Socket>();
  const agent = new Agent({ keepAlive: false });
  let onHeld: () => void = () => undefined;
  const held = new Promise<void>((resolve) => (onHeld = resolve));
  /** Passes `from` on into `to` until `limit` bytes have gone through, then stops reading and writing. */
  const relayUpTo = (from: NodeJS.ReadableStream & { pause(): void; destroy(): void }, to: NodeJS.WritableStream, limit: number) => {
    let passed = 0;
    from.on('data', (chunk: Buffer) => {
      if (passed >= limit) return;
      const room = limit - passed;
      passed += chunk.length;
      to.write(chunk.subarray(0, room));
      if (passed >= limit) {
        from.pause();
        onHeld();
      }
    });
  };
  const server = createServer((req, res) => {
    res.on('error', () => undefined);
    const pick = hold(req);
    const up = request({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers, agent }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      if (pick && direction === 'download') relayUpTo(answer, res, bytes);
      else answer.pipe(res);
    });
    // A held transfer stays silent also when the server behind goes: only the client may give up on it.
    up.on('error', () => (pick ? undefined : res.destroy()));
    if (pick && direction === 'upload') relayUpTo(req, up, bytes);
    else req.pipe(up);
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    held,
    stop: async () => {
      for (const socket of sockets) socket.destroy();
      agent.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
