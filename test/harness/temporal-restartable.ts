// A Temporal dev server in a process of its own, on a fixed port with its state in a file, that a test can stop
// (an outage) and start again with the same workflows (a restart).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { findTool } from '../../client/demo/tools.js';
import { SEARCH_ATTRIBUTES } from '../../domain/ids.js';

export interface RestartableTemporal {
  address: string;
  /** A client of this server (its connection reconnects after a restart). */
  client: Client;
  /** Kills the server (-9: no goodbye to anyone) and waits until it has exited. */
  stop(): Promise<void>;
  /** Starts it again on the same port with the same state; resolves once it answers. */
  start(): Promise<void>;
  teardown(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as { port: number }).port;
      server.close(() => resolve(port));
    });
  });
}

export async function startRestartableTemporal(): Promise<RestartableTemporal> {
  const dir = mkdtempSync(join(tmpdir(), 'pgwarden-test-temporal-'));
  let port = 0;
  let address = '';
  let child: ChildProcess | undefined;
  let output = '';
  const startOnce = async () => {
    output = '';
    const args = ['server', 'start-dev', '--ip', '127.0.0.1', '--port', String(port), '--http-port', String(await freePort()), '--headless', '--db-filename', join(dir, 'temporal.db'), '--log-level', 'error'];
    for (const key of Object.values(SEARCH_ATTRIBUTES)) args.push('--search-attribute', `${key.name}=Keyword`);
    const started = spawn(findTool('temporal'), args, { stdio: ['ignore', 'pipe', 'pipe'] });
    started.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    started.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child = started;
    const deadline = Date.now() + 60_000;
    for (;;) {
      if (started.exitCode !== null) throw new Error(`temporal server start-dev exited (${started.exitCode}):\n${output}`);
      try {
        const connection = await Connection.connect({ address, connectTimeout: 1_000 });
        try {
          await connection.workflowService.getSystemInfo({});
          return;
        } finally {
          await connection.close();
        }
      } catch (error) {
        if (Date.now() > deadline) throw new Error(`temporal server start-dev did not answer within 60 s: ${(error as Error).message}\n${output}`);
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
    }
  };
  const stop = async () => {
    const running = child;
    child = undefined;
    if (!running || running.exitCode !== null || running.signalCode !== null) return;
    const exited = new Promise((resolve) => running.once('exit', resolve));
    running.kill('SIGKILL');
    await exited;
  };
  // A port found free can be taken by another process before the server binds it (seen: the dev server exits with
  // a panic in NewHTTPAPIServer). So each start tries up to three times: the first one on new ports each time, a
  // restart on the same gRPC port (clients have its address) with a new HTTP port.
  const start = async () => {
    for (let attempt = 1; ; attempt += 1) {
      try {
        return await startOnce();
      } catch (error) {
        await stop();
        if (attempt >= 3) throw error;
      }
    }
  };
  for (let attempt = 1; ; attempt += 1) {
    port = await freePort();
    address = `127.0.0.1:${port}`;
    try {
      await startOnce();
      break;
    } catch (error) {
      await stop();
      if (attempt >= 3) throw error;
    }
  }
  const connection = await Connection.connect({ address });
  const client = new Client({ connection });
  return {
    address,
    client,
    stop,
    start,
    teardown: async () => {
      await connection.close().catch(() => undefined);
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
