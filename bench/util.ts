// Small helpers the benchmark shares: timing, medians, formatting, commands as the cluster's OS user, cleanup.
import { existsSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { execa, type ResultPromise } from 'execa';
import type { OsUser } from '../activities/postgres/cluster.js';

export const MB = 1_000_000; // throughputs and sizes are in decimal MB (MB/s as tools print them)
export const MiB = 1024 * 1024;

export function log(line: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${line}\n`);
}

export function now(): number {
  return performance.now();
}

/** Runs `fn` and returns its result with the wall time in milliseconds. */
export async function timed<T>(fn: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const start = now();
  const value = await fn();
  return { value, ms: now() - start };
}

export function median(values: number[]): number | undefined {
  const sorted = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return undefined;
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export function fmtSeconds(ms: number | undefined): string {
  if (ms === undefined) return 'n/a';
  return ms < 10_000 ? `${(ms / 1000).toFixed(2)} s` : `${(ms / 1000).toFixed(1)} s`;
}

// Decimal units here, unlike pgwarden's own reports (domain/format.ts): the peers' figures and disk makers'
// rates the report stands beside are in MB and MB/s.
export function fmtBytes(bytes: number | undefined): string {
  if (bytes === undefined) return 'n/a';
  if (bytes >= 10 * MB * 100) return `${(bytes / (1000 * MB)).toFixed(2)} GB`;
  return `${(bytes / MB).toFixed(1)} MB`;
}

export function fmtRate(bytes: number, ms: number | undefined): string {
  if (ms === undefined || ms <= 0) return 'n/a';
  return `${(bytes / MB / (ms / 1000)).toFixed(1)} MB/s`;
}

export function fmtRatio(value: number | undefined): string {
  return value === undefined || !Number.isFinite(value) ? 'n/a' : `${value.toFixed(2)}×`;
}

/** Total size of the regular files under `path`. */
export function dirSize(path: string): number {
  if (!existsSync(path)) return 0;
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.size;
  let total = 0;
  for (const entry of readdirSync(path, { withFileTypes: true })) {
    const child = join(path, entry.name);
    if (entry.isDirectory()) total += dirSize(child);
    else if (entry.isFile()) total += statSync(child).size;
  }
  return total;
}

/**
 * Runs `command` as `user` (when the benchmark runs as root, clusters and pgBackRest run as the unprivileged
 * user that owns the data directory), with `env` added. Returns execa's promise, so callers can see the pid.
 */
export function runAs(user: OsUser | undefined, command: string, args: string[], env: Record<string, string> = {}, options: { stdout?: 'pipe' | 'ignore' } = {}): ResultPromise {
  const base = { reject: false, stdin: 'ignore', stdout: options.stdout ?? 'pipe', stderr: 'pipe', cwd: '/' } as const;
  if (!user) return execa(command, args, { ...base, env });
  const envArgs = Object.entries(env).map(([k, v]) => `${k}=${v}`);
  return execa('runuser', ['-u', user.name, '--', 'env', ...envArgs, command, ...args], base) as unknown as ResultPromise;
}

/** Fails with the command's own words when it did not exit 0. */
export function check(result: { exitCode?: number; stderr?: unknown; stdout?: unknown; command?: string }, what: string): void {
  if (result.exitCode === 0) return;
  const text = `${String(result.stderr ?? '').trim()}\n${String(result.stdout ?? '').trim()}`.trim().split('\n').slice(-15).join('\n');
  throw new Error(`${what} failed (exit ${result.exitCode}): ${text}`);
}

/** Flushes dirty pages so one tool's writes are not flushed on the next tool's clock. */
export async function settle(): Promise<void> {
  await execa('sync', [], { reject: false });
}

/** Things to undo at the end, newest first, also after a failure or Ctrl-C. */
export class Cleanup {
  private readonly steps: Array<{ what: string; fn: () => Promise<void> | void }> = [];

  add(what: string, fn: () => Promise<void> | void): void {
    this.steps.push({ what, fn });
  }

  async run(): Promise<void> {
    while (this.steps.length > 0) {
      const step = this.steps.pop()!;
      try {
        await step.fn();
      } catch (error) {
        log(`cleanup: ${step.what}: ${(error as Error).message}`);
      }
    }
  }
}

/**
 * Starts gpg-agent for a fresh --homedir with one tiny encryption, so the first timed gpg call does not pay the
 * agent's start (about a second), as a cron job on a machine where gpg has run before would not.
 */
export async function warmUpGpg(gpgArgs: string[], dir: string): Promise<void> {
  const probe = join(dir, 'gpg-warm-up');
  writeFileSync(probe, 'warm-up\n');
  const result = await execa('gpg', [...gpgArgs, '--yes', '--symmetric', '--cipher-algo', 'AES256', '-o', `${probe}.gpg`, probe], { reject: false, stdin: 'ignore' });
  check(result, 'gpg warm-up');
  rmSync(probe, { force: true });
  rmSync(`${probe}.gpg`, { force: true });
}

/** Stops the gpg-agent that gpg started for `homedir`. */
export async function stopGpgAgent(homedir: string): Promise<void> {
  await execa('gpgconf', ['--homedir', homedir, '--kill', 'gpg-agent'], { reject: false });
}

/** apt-get install `packages` when we are root on Debian/Ubuntu; otherwise fails naming them. */
export async function aptInstall(packages: string[], otherwise = ''): Promise<void> {
  const hasApt = (await execa('sh', ['-c', 'command -v apt-get'], { reject: false })).exitCode === 0;
  if (process.getuid?.() !== 0 || !hasApt) {
    throw new Error(`missing: ${packages.join(', ')}: install ${packages.length > 1 ? 'them' : 'it'} (Debian/Ubuntu: sudo apt-get install ${packages.join(' ')})${otherwise ? ` ${otherwise}` : ''}`);
  }
  log(`apt-get install ${packages.join(' ')}`);
  const env = { DEBIAN_FRONTEND: 'noninteractive' };
  await execa('apt-get', ['update', '-qq'], { env, reject: false });
  check(await execa('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...packages], { env, reject: false }), `apt-get install ${packages.join(' ')}`);
}
