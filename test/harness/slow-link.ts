// A TCP proxy in front of a PostgreSQL server that carries bytes at a set rate each way, shared by every
// connection through it: a database across a slow link. A test that must catch a job half-way (a worker stopped
// mid-dump, Temporal restarted mid-restore) points the job's connection at it instead of making the table big
// enough to take long: the job runs as long, the real pg_dump, psql and pipeline run the same way, and the machine
// does a fraction of the work (the suite is CPU-bound on 2 cores). Small exchanges (a query, a catalog read) fit in
// the burst and are not held.
import { createServer, connect, type AddressInfo, type Socket } from 'node:net';

export interface SlowLink {
  /** `url` (a postgresql:// URL of the server behind the link) with its host and port replaced by the link's. */
  through(url: string): string;
  stop(): Promise<void>;
}

const BURST_BYTES = 256 * 1024;

/** One direction of the link: a token bucket every connection draws on. */
class Bucket {
  private tokens = BURST_BYTES;
  private last = Date.now();
  constructor(private readonly bytesPerSecond: number) {}
  /** Takes `bytes` and says how long the sender must wait before the next chunk (ms). */
  take(bytes: number): number {
    const now = Date.now();
    this.tokens = Math.min(BURST_BYTES, this.tokens + ((now - this.last) / 1000) * this.bytesPerSecond);
    this.last = now;
    this.tokens -= bytes;
    return this.tokens >= 0 ? 0 : (-this.tokens / this.bytesPerSecond) * 1000;
  }
}

/**
 * Relays `from` to `to` at the bucket's pace: after each chunk, `from` is paused until `to` has taken it in (its
 * "drain") and the bucket allows the next one.
 */
function relay(from: Socket, to: Socket, bucket: Bucket): void {
  from.on('data', (chunk: Buffer) => {
    const taken = to.write(chunk);
    const wait = bucket.take(chunk.length);
    if (taken && wait === 0) return;
    from.pause();
    let holds = (taken ? 0 : 1) + (wait === 0 ? 0 : 1);
    const release = () => {
      holds -= 1;
      if (holds === 0 && !from.destroyed) from.resume();
    };
    if (!taken) to.once('drain', release);
    if (wait !== 0) setTimeout(release, wait);
  });
}

/** A link to `upstream` (host and port of the server) carrying `bytesPerSecond` each way. */
export async function startSlowLink(upstreamUrl: string, bytesPerSecond: number): Promise<SlowLink> {
  const upstream = new URL(upstreamUrl);
  const down = new Bucket(bytesPerSecond);
  const up = new Bucket(bytesPerSecond);
  const open = new Set<Socket>();
  const server = createServer((client) => {
    const serverSide = connect({ host: upstream.hostname, port: Number(upstream.port || 5432) });
    for (const socket of [client, serverSide]) {
      open.add(socket);
      socket.on('close', () => open.delete(socket));
    }
    // Either end going away (a server restart, a killed client) ends the other, as a lost link would.
    const end = () => {
      client.destroy();
      serverSide.destroy();
    };
    client.on('error', end).on('close', end);
    serverSide.on('error', end).on('close', end);
    relay(client, serverSide, up);
    relay(serverSide, client, down);
  });
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', () => resolve()));
  server.unref(); // a link a failed test never stopped does not keep its file's process alive
  const port = (server.address() as AddressInfo).port;
  return {
    through(url) {
      const via = new URL(url);
      via.hostname = '127.0.0.1';
      via.port = String(port);
      return via.toString();
    },
    async stop() {
      for (const socket of open) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
