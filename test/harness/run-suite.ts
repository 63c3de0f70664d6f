// The test suite's runner (`npm test`): one Temporal dev server for every test file (each file works in a
// namespace of its own, test/harness/temporal.ts), one initdb per superuser that every file's PostgreSQL clusters
// are copied from (test/harness/pg-template.ts), files side by side, the longest first.
// Usage: node dist/test/harness/run-suite.js [--concurrency N] [--max-concurrency M] <test files…>
//
// N files always run at once. Many of the long files spend most of their time waiting (a heartbeat timeout, an
// outage of a set length, a worker killed and given up), so N of them side by side can leave cores idle: while
// the machine's CPU has been at least IDLE_TO_ADMIT idle for the last few seconds, another file starts, up to M
// (one every few seconds, so that each has shown what it costs before the next is let in).
//
// Each file runs in a node process of its own (node runs the file; its node:test tests report TAP), its output kept
// together and printed when it ends, with its time. The times are kept in .pgwarden/test-times.json (over the ones committed in
// test/harness/test-times.json, from a run on a 2-core machine): the next run starts the files that took longest
// first (files it has no time for before those), so that no long file starts last while the other slots sit idle.
// That order is what makes the suite's wall time close to its work divided by the slots.
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SHARED_TEMPORAL_ENV, startDevServer } from './temporal.js';
import { PG_TEMPLATES_ENV } from './pg-template.js';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const TIMES = join(ROOT, '.pgwarden', 'test-times.json');
const COMMITTED_TIMES = join(ROOT, 'test', 'harness', 'test-times.json');

interface FileRun {
  file: string;
  ms: number;
  /** CPU time of the processes the file's shell waited for (not the PostgreSQL servers pg_ctl detaches). */
  cpuMs?: number;
  exitCode: number;
  pass: number;
  fail: number;
}

function parseArgs(args: string[]): { concurrency: number; maxConcurrency: number; files: string[] } {
  let concurrency = 3;
  let maxConcurrency: number | undefined;
  for (;;) {
    if (args[0] === '--concurrency') concurrency = Number(args[1]);
    else if (args[0] === '--max-concurrency') maxConcurrency = Number(args[1]);
    else break;
    args = args.slice(2);
  }
  maxConcurrency ??= concurrency;
  if (!Number.isInteger(concurrency) || concurrency < 1 || !Number.isInteger(maxConcurrency) || maxConcurrency < concurrency || args.length === 0) {
    console.error('usage: run-suite.js [--concurrency N] [--max-concurrency M ≥ N] <test files…>');
    process.exit(2);
  }
  return { concurrency, maxConcurrency, files: args };
}

function readTimes(file = TIMES): Record<string, number> {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as Record<string, number>;
  } catch {
    return {}; // first run, or a file from elsewhere: every file is "unknown", in the order given
  }
}

/** A file's name in the times and the output: its folder and name (integration/pitr.test.js is not workflows/pitr.test.js). */
export function timeKey(file: string): string {
  return `${basename(dirname(file))}/${basename(file)}`;
}

/** Unknown files first (they may be long), then the known ones, longest first; ties keep the order given. */
export function longestFirst(files: string[], times: Record<string, number>): string[] {
  const known = (file: string) => times[timeKey(file)];
  return files
    .map((file, index) => ({ file, index }))
    .sort((a, b) => (known(b.file) ?? Infinity) - (known(a.file) ?? Infinity) || a.index - b.index)
    .map(({ file }) => file);
}

const children = new Set<ChildProcess>();

/**
 * A file that runs longer than this is stopped, and its output so far printed: a hang (a test waiting on something
 * that never comes) then names its file within minutes instead of holding the whole run until CI gives up.
 */
const FILE_TIMEOUT_MS = Number(process.env.PGWARDEN_TEST_FILE_TIMEOUT_MS ?? 15 * 60_000);

/** The file's process and everything it started (its own process group). */
function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  try {
    process.kill(-child.pid!, signal);
  } catch {
    // already gone
  }
}

/**
 * The test file run by node itself (node:test runs a file's tests when it is the main module, reporting TAP and
 * exiting non-zero when one fails), not under `node --test`, which on Node 20 is one more process per file that
 * only starts the file's own (a tenth of a CPU-second or more, at every file). Under a POSIX shell, whose `times`
 * then writes on fd 3 the CPU time of the processes it waited for: the test process and what that waited for
 * (the CLI, pg_dump, gpg…). Printed with each file, and summed: the suite is CPU-bound on 2 cores, so that is
 * where its time goes.
 */
const MEASURED = 'node="$1"; shift; "$node" --test-reporter=tap "$@"; status=$?; times >&3; exit $status';

/** The children's user and system time from the second line of `times` ("0m1.50s 0m0.25s"), in ms. */
export function childrenCpuMs(timesOutput: string): number | undefined {
  const line = timesOutput.trim().split('\n')[1];
  const parts = line?.trim().split(/\s+/).map((t) => /^(\d+)m([\d.]+)s$/.exec(t));
  if (!parts || parts.length !== 2 || parts.some((m) => !m)) return undefined;
  return Math.round(parts.reduce((sum, m) => sum + (Number(m![1]) * 60 + Number(m![2])) * 1000, 0));
}

function runFile(file: string, env: NodeJS.ProcessEnv): Promise<FileRun> {
  const started = Date.now();
  const child = spawn('/bin/sh', ['-c', MEASURED, 'sh', process.execPath, file], { env, stdio: ['ignore', 'pipe', 'pipe', 'pipe'], detached: true });
  children.add(child);
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    killGroup(child, 'SIGKILL');
  }, FILE_TIMEOUT_MS);
  const output: Buffer[] = [];
  child.stdout!.on('data', (chunk: Buffer) => output.push(chunk));
  child.stderr!.on('data', (chunk: Buffer) => output.push(chunk));
  let times = '';
  (child.stdio[3] as NodeJS.ReadableStream).on('data', (chunk: Buffer) => (times += chunk.toString()));
  return new Promise((resolve) => {
    child.once('close', (status, signal) => {
      clearTimeout(timer);
      children.delete(child);
      const text = Buffer.concat(output).toString() + (timedOut ? `\n# TIMED OUT: stopped after ${FILE_TIMEOUT_MS / 60_000} min (PGWARDEN_TEST_FILE_TIMEOUT_MS)\n` : '');
      const count = (name: string) => Number(new RegExp(`^# ${name} (\\d+)$`, 'm').exec(text)?.[1] ?? 0);
      const cpuMs = childrenCpuMs(times);
      const run = { file, ms: Date.now() - started, ...(cpuMs === undefined ? {} : { cpuMs }), exitCode: status ?? (signal ? 1 : 0), pass: count('pass'), fail: count('fail') };
      process.stdout.write(`# ---- ${timeKey(file)}: ${run.exitCode === 0 ? 'ok' : 'FAILED'}, ${run.pass} passed, ${run.fail} failed, ${(run.ms / 1000).toFixed(1)} s${run.cpuMs === undefined ? '' : ` (${(run.cpuMs / 1000).toFixed(1)} s of CPU)`}\n${text}`);
      resolve(run);
    });
  });
}

/** The share of the machine's CPU that must have been idle over IDLE_WINDOW_MS before a file past N starts. */
const IDLE_TO_ADMIT = 0.3;
const IDLE_WINDOW_MS = 5_000;
/** At most one file past N starts in this time: a file takes a few seconds to show what it costs. */
const ADMIT_SPACING_MS = 5_000;

export interface Slots {
  running: number;
  concurrency: number;
  maxConcurrency: number;
  /** The share of CPU time idle over the last IDLE_WINDOW_MS (0…1). */
  idle: number;
  msSinceLastStart: number;
}

/** Whether another file may start now: always below N; up to M while the CPU has been idle enough. */
export function mayStart(slots: Slots): boolean {
  if (slots.running < slots.concurrency) return true;
  return slots.running < slots.maxConcurrency && slots.idle >= IDLE_TO_ADMIT && slots.msSinceLastStart >= ADMIT_SPACING_MS;
}

/** The machine's idle CPU share over the last `windowMs`, from samples of os.cpus() taken at each call. */
function idleMeter(windowMs: number): () => number {
  const samples: { at: number; idle: number; total: number }[] = [];
  return () => {
    let idle = 0;
    let total = 0;
    for (const { times } of cpus()) {
      idle += times.idle;
      total += times.user + times.nice + times.sys + times.idle + times.irq;
    }
    const now = Date.now();
    samples.push({ at: now, idle, total });
    while (samples.length > 2 && now - samples[1]!.at >= windowMs) samples.shift();
    const first = samples[0]!;
    return total > first.total ? (idle - first.idle) / (total - first.total) : 0;
  };
}

async function runAll(files: string[], concurrency: number, maxConcurrency: number, env: NodeJS.ProcessEnv): Promise<FileRun[]> {
  const queue = [...files];
  const runs: FileRun[] = [];
  const idle = idleMeter(IDLE_WINDOW_MS);
  let running = 0;
  let lastStart = 0;
  let extraStarts = 0;
  return new Promise((resolve) => {
    const fill = () => {
      const idleShare = idle();
      while (queue.length > 0 && mayStart({ running, concurrency, maxConcurrency, idle: idleShare, msSinceLastStart: Date.now() - lastStart })) {
        if (running >= concurrency) extraStarts += 1;
        const file = queue.shift()!;
        running += 1;
        lastStart = Date.now();
        void runFile(file, env).then((run) => {
          runs.push(run);
          running -= 1;
          fill();
        });
      }
      if (queue.length === 0 && running === 0) {
        clearInterval(timer);
        if (maxConcurrency > concurrency) console.log(`# run-suite: ${extraStarts} files started past ${concurrency} at once while the CPU was idle (up to ${maxConcurrency})`);
        resolve(runs);
      }
    };
    const timer = setInterval(fill, 1_000);
    fill();
  });
}

function summarize(runs: FileRun[], wallMs: number, concurrency: number, maxConcurrency: number): void {
  const work = runs.reduce((sum, run) => sum + run.ms, 0);
  const failed = runs.filter((run) => run.exitCode !== 0);
  const slowest = [...runs].sort((a, b) => b.ms - a.ms).slice(0, 8);
  console.log(
    [
      `# run-suite: ${runs.length} files, ${runs.reduce((s, r) => s + r.pass, 0)} tests passed, ${runs.reduce((s, r) => s + r.fail, 0)} failed`,
      `# run-suite: ${(wallMs / 1000).toFixed(0)} s wall, ${(work / 1000).toFixed(0)} s of file time, ${concurrency === maxConcurrency ? concurrency : `${concurrency} to ${maxConcurrency}`} files at once, ${(runs.reduce((sum, run) => sum + (run.cpuMs ?? 0), 0) / 1000).toFixed(0)} s of CPU in the files' processes`,
      `# run-suite: longest files: ${slowest.map((r) => `${timeKey(r.file)} ${(r.ms / 1000).toFixed(0)} s`).join(', ')}`,
      ...failed.map((run) => `# run-suite: FAILED ${run.file} (exit code ${run.exitCode})`),
    ].join('\n'),
  );
}

function saveTimes(runs: FileRun[]): void {
  const times = readTimes();
  for (const run of runs) if (run.exitCode === 0) times[timeKey(run.file)] = run.ms;
  mkdirSync(dirname(TIMES), { recursive: true });
  writeFileSync(TIMES, `${JSON.stringify(times, null, 2)}\n`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const { concurrency, maxConcurrency, files } = parseArgs(process.argv.slice(2));
  const forward = (signal: NodeJS.Signals) => {
    for (const child of children) killGroup(child, signal);
  };
  process.on('SIGINT', forward).on('SIGTERM', forward);
  const temporal = await startDevServer();
  // The files' PostgreSQL clusters are copies of one initdb per superuser (pg-template.ts), kept here for this run.
  const templates = mkdtempSync(join(tmpdir(), 'pgwarden-test-pg-templates-'));
  chmodSync(templates, 0o755);
  let runs: FileRun[] = [];
  const started = Date.now();
  try {
    const env = { ...process.env, [SHARED_TEMPORAL_ENV]: temporal.address, [PG_TEMPLATES_ENV]: templates };
    runs = await runAll(longestFirst(files, { ...readTimes(COMMITTED_TIMES), ...readTimes() }), concurrency, maxConcurrency, env);
  } finally {
    await temporal.teardown();
    rmSync(templates, { recursive: true, force: true });
  }
  summarize(runs, Date.now() - started, concurrency, maxConcurrency);
  saveTimes(runs);
  process.exit(runs.length === files.length && runs.every((run) => run.exitCode === 0) ? 0 : 1);
}
