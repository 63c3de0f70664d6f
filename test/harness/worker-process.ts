// pgwarden workers in processes of their own, as in production: `pgwarden worker --config FILE` with the secrets
// in its environment (the file names them only), stopped with SIGTERM or killed with -9 in the middle of a job.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Client } from '@temporalio/client';
import { stringify } from 'yaml';
import type { ConfigInput } from '../../config/schema.js';
import { CLI, secretsEnvironment } from './archiving.js';

export interface WorkerProcess {
  pid: number;
  /** What Temporal records as the worker's identity ("<pid>@<host>"). */
  identity: string;
  configFile: string;
  /** Resolves when the process has exited. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  alive(): boolean;
  /** Everything it wrote to stdout and stderr so far. */
  output(): string;
  /** Sends `signal` and waits for the process to exit. */
  stop(signal: 'SIGTERM' | 'SIGINT' | 'SIGKILL'): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Writes `input` as a pgwarden.yaml in a fresh directory; returns its path. */
export function writeConfigFile(input: ConfigInput): string {
  const file = join(mkdtempSync(join(tmpdir(), 'pgwarden-test-config-')), 'pgwarden.yaml');
  writeFileSync(file, stringify(input), { mode: 0o600 });
  return file;
}

/** The environment a pgwarden process gets: what finds its tools, and the secrets the test config names. */
export function processEnvironment(extra: Record<string, string> = {}): Record<string, string> {
  const keep = ['PATH', 'HOME', 'TMPDIR', 'LANG', 'PGWARDEN_CLUSTER_USER', 'PGWARDEN_LOG_LEVEL'];
  const base = Object.fromEntries(keep.filter((k) => process.env[k] !== undefined).map((k) => [k, process.env[k]!]));
  return { ...base, ...secretsEnvironment(), ...extra };
}

/**
 * Starts `pgwarden worker` for `input` and waits until Temporal lists it polling for workflows and activities.
 * `cli`: another build's `dist/client/cli.js` (an earlier release, see old-release.ts) instead of this one.
 */
export async function startWorkerProcess(client: Client, input: ConfigInput, configFile = writeConfigFile(input), cli = CLI): Promise<WorkerProcess> {
  const child: ChildProcess = spawn(process.execPath, [cli, '--config', configFile, 'worker'], { env: processEnvironment(), stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  let status: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => {
      status = { code, signal };
      resolve(status);
    }),
  );
  const identity = `${child.pid}@${hostname()}`;
  const worker: WorkerProcess = {
    pid: child.pid!,
    identity,
    configFile,
    exited,
    alive: () => status === undefined,
    output: () => output,
    stop: async (signal) => {
      if (status === undefined) child.kill(signal);
      return exited;
    },
  };
  const taskQueue = input.temporal?.taskQueue ?? 'pgwarden';
  const namespace = input.temporal?.namespace ?? 'default';
  const deadline = Date.now() + 120_000;
  for (;;) {
    if (status !== undefined) throw new Error(`pgwarden worker exited (${status.code ?? status.signal}) before it polled:\n${output}`);
    if (Date.now() > deadline) {
      await worker.stop('SIGKILL');
      throw new Error(`pgwarden worker did not poll task queue ${taskQueue} within 2 minutes:\n${output}`);
    }
    const listed = await Promise.all(
      [1, 2].map(async (taskQueueType) => {
        const response = await client.workflowService.describeTaskQueue({ namespace, taskQueue: { name: taskQueue, kind: 1 }, taskQueueType });
        return (response.pollers ?? []).some((p) => p.identity === identity);
      }),
    );
    if (listed.every(Boolean)) return worker;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
