// Starts `temporal server start-dev` (SQLite file) for the demo and the benchmark, and waits until it answers.
import { openSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { Connection } from '@temporalio/client';
import { PgwardenError } from '../../domain/errors.js';
import { SEARCH_ATTRIBUTES } from '../../domain/ids.js';
import { findTool } from './tools.js';
import { childEnvironment } from '../../activities/process-environment.js';
import { sleep } from '../../activities/sleep.js';

export interface DevServerOptions {
  dbFile: string;
  port: number;
  uiPort: number;
  logFile: string;
  /** Keep running after this process exits (the demo leaves it up so the UI link keeps working). */
  detached: boolean;
}

export interface DevServer {
  address: string;
  ui: string;
  pid: number;
}

export async function startDevServer(options: DevServerOptions): Promise<DevServer> {
  // The dev server picks free ports for its internal services before binding them, and another process can
  // take one in between: it then exits at once ("address already in use"). A second start picks new ones.
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await startDevServerOnce(options);
    } catch (error) {
      if (attempt >= 3 || !(error instanceof PgwardenError) || !/exited with code/.test(error.message)) throw error;
    }
  }
}

async function startDevServerOnce(options: DevServerOptions): Promise<DevServer> {
  const temporal = findTool('temporal');
  const args = [
    'server', 'start-dev',
    '--db-filename', options.dbFile,
    '--ip', '127.0.0.1',
    '--port', String(options.port),
    '--ui-port', String(options.uiPort),
    '--log-level', 'error',
    ...Object.values(SEARCH_ATTRIBUTES).flatMap((key) => ['--search-attribute', `${key.name}=Keyword`]),
  ];
  const log = openSync(options.logFile, 'a');
  const child = spawn(temporal, args, { detached: options.detached, stdio: ['ignore', log, log], env: childEnvironment() });
  if (options.detached) child.unref();
  const address = `127.0.0.1:${options.port}`;
  let exited: number | null | undefined;
  child.once('exit', (code) => (exited = code));
  await waitForTemporal(address, 60_000, () => (exited !== undefined ? `temporal exited with code ${exited}; see ${options.logFile}` : undefined));
  return { address, ui: `http://localhost:${options.uiPort}`, pid: child.pid! };
}

export async function waitForTemporal(address: string, timeoutMs: number, failed?: () => string | undefined): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    const reason = failed?.();
    if (reason) throw new PgwardenError('Unavailable', `Temporal dev server did not start: ${reason}`);
    try {
      const connection = await Connection.connect({ address, connectTimeout: '1s' });
      await connection.workflowService.getSystemInfo({});
      await connection.close();
      return;
    } catch (error) {
      lastError = error;
      await sleep(250);
    }
  }
  throw new PgwardenError('Unavailable', `Temporal at ${address} did not answer within ${timeoutMs / 1000}s: ${(lastError as Error)?.message}`);
}

/** Whether something answers as Temporal at `address` right now. */
export async function temporalAnswers(address: string): Promise<boolean> {
  try {
    await waitForTemporal(address, 1_500);
    return true;
  } catch {
    return false;
  }
}
