// A chain of processes joined by OS pipes (zstd | gpg, gpg -d | zstd -d | psql): the bytes between them never
// pass through Node, so compression, encryption and loading run on their own cores while Node only feeds the
// first and reads the last. When something fails, the error names the process that caused it, not the ones
// that merely lost their input or output.
//
// The whole chain is ONE process started from Node: a small POSIX shell that forks the steps and joins them with
// pipes. Node forking a process costs CPU in proportion to the worker's resident memory (its page tables are
// copied): about 7 ms per process for a 200 MiB worker, against about 1 ms for a 1 MiB shell. Each step keeps
// what it had as a process of its own: its stderr (a pipe of its own, fd 4+), its exit status (reported on the
// status pipe), its environment (only its own variables) and its secret on fd 3 (a pipe of its own).
import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import type { Readable, Writable } from 'node:stream';
import { PgwardenError } from '../../domain/errors.js';
import { childEnvironment } from '../process-environment.js';

export interface Step {
  command: string;
  args: string[];
  /** What this process needs beyond PATH, locale and the like: it gets nothing else of the worker's environment. */
  env?: Record<string, string>;
  /** Written to the process's fd 3 and closed (gpg's --passphrase-fd 3): secrets never go on the command line. */
  fd3?: string;
  /** Written to the process's stdin and closed (the first step only: psql's script). */
  input?: string;
  /** How to describe this process in errors ("gpg (decrypt)"). */
  label?: string;
  /** Classifies this process's failure (stderr, exit code) when it is the cause; default: Failed. */
  explain?: (stderr: string, exitCode: number | null) => PgwardenError | undefined;
  /** Called once when the process has exited, or the chain was killed, before `done` settles (to read a report file it wrote). */
  onExit?: () => void;
  /** Sees stderr as it comes (dd's progress lines). */
  onStderr?: (text: string) => void;
}

export interface Chain {
  stdin: Writable;
  /** The last process's stdout ('pipe' chains only). */
  stdout: Readable | null;
  /** Resolves when every process exited 0; rejects with the most telling failure. */
  done: Promise<void>;
  kill(): void;
}

interface Exit {
  step: Step;
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
  /** The shell could not start the program (127: not found, 126: not executable). */
  notInstalled?: boolean;
}

const STDERR_KEEP = 8_192;
const SHELL = '/bin/sh';
/** Variables of step i reach the shell as PGWARDEN_STEP<i>_<NAME>; each step takes its own and drops the rest. */
const stepVariable = (index: number, name: string) => `PGWARDEN_STEP${index}_${name}`;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** A word the shell passes on unchanged, whatever it holds (single quotes; a quote inside becomes '\''). */
export function shellQuote(word: string): string {
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

/**
 * The shell script of a chain. Descriptors: 0/1 the chain's stdin/stdout, 2 the shell's own stderr, 3 the status
 * pipe ("<step> <exit status>" per step), 4+i step i's stderr, and after those one pipe per step with a secret,
 * which that step gets as its fd 3. Every step closes what is not its own, so a pipe ends when its one writer does.
 */
export function chainScript(steps: Step[]): { script: string; secretFd: Array<number | undefined> } {
  const stderrFd = (i: number) => 4 + i;
  let nextFd = 4 + steps.length;
  const secretFd = steps.map((s) => (s.fd3 !== undefined ? nextFd++ : undefined));
  const secrets = secretFd.filter((fd): fd is number => fd !== undefined);
  const allVariables = steps.flatMap((s, i) => Object.keys(s.env ?? {}).map((name) => stepVariable(i, name)));
  const elements = steps.map((step, i) => {
    const exports = Object.keys(step.env ?? {}).map((name) => {
      if (!ENV_NAME.test(name)) throw new PgwardenError('Failed', `Environment variable name "${name}" of ${step.label ?? step.command} is not one a shell can pass on.`);
      return `export ${name}="$${stepVariable(i, name)}";`;
    });
    const unset = allVariables.length ? `unset ${allVariables.join(' ')};` : '';
    const own = secretFd[i];
    // Its stderr and its secret onto 2 and 3 (or 3, the status pipe, closed), then every chain descriptor closed.
    const redirects = [
      `2>&${stderrFd(i)}`,
      own !== undefined ? `3<&${own}` : '3>&-',
      ...steps.map((_, j) => `${stderrFd(j)}>&-`),
      ...secrets.map((fd) => `${fd}<&-`),
    ];
    // The inner subshell becomes the program (exec); the outer one reports its exit status on fd 3.
    const run = `(${exports.join(' ')} ${unset} exec ${[step.command, ...step.args].map(shellQuote).join(' ')} ${redirects.join(' ')})`;
    return `{ ${run}; echo "${i} $?" >&3; }`;
  });
  return { script: elements.join(' | '), secretFd };
}

export function chain(steps: Step[], options: { stdin?: 'pipe' | 'ignore'; stdout: 'pipe' | 'ignore'; signal?: AbortSignal }): Chain {
  const { script, secretFd } = chainScript(steps);
  // The shell gets what any tool needs (never the worker's whole environment); each step adds only its own variables.
  const env: Record<string, string> = childEnvironment();
  steps.forEach((step, i) => {
    for (const [name, value] of Object.entries(step.env ?? {})) env[stepVariable(i, name)] = value;
  });
  const extra = 4 + steps.length + secretFd.filter((fd) => fd !== undefined).length - 3; // fds 3 … last
  const input = steps[0]?.input;
  const child = spawn(SHELL, ['-c', script], {
    env,
    stdio: [options.stdin === 'ignore' && input === undefined ? 'ignore' : 'pipe', options.stdout, 'pipe', ...Array.from({ length: extra }, () => 'pipe' as const)],
    detached: true, // its own process group: kill() reaches every step, not only the shell
  });
  const pipeAt = (fd: number) => child.stdio[fd] as Readable & Writable;

  steps.forEach((step, i) => {
    const fd = secretFd[i];
    if (fd === undefined) return;
    const pipe = pipeAt(fd);
    pipe.on('error', () => undefined);
    pipe.end(`${step.fd3}\n`);
  });
  const { stderr, stderrClosed } = readStderr(steps, (i) => pipeAt(4 + i));
  const exited = new Set<number>();
  const onExit = (index: number) => {
    if (exited.has(index)) return;
    exited.add(index);
    try {
      steps[index]!.onExit?.();
    } catch {
      /* the report is optional; the caller notices what is missing */
    }
  };
  const statusPipe = pipeAt(3);
  const statuses = readStatuses(statusPipe, steps.length, onExit);
  let shellOwnError = '';
  child.stderr!.on('data', (chunk: Buffer) => (shellOwnError = (shellOwnError + chunk.toString('utf8')).slice(-STDERR_KEEP)));
  const statusClosed = new Promise<void>((resolve) => statusPipe.once('close', () => resolve()));
  const shellExited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: Error }>((resolve) => {
    let spawnError: Error | undefined;
    child.once('error', (error) => (spawnError = error));
    child.once('close', (code, signal) => resolve({ code, signal, ...(spawnError ? { error: spawnError } : {}) }));
  });

  let killed = false;
  const kill = () => {
    if (killed || child.pid === undefined) return;
    killed = true;
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  };
  options.signal?.addEventListener('abort', kill, { once: true });
  child.stdin?.on('error', () => undefined); // EPIPE when the chain died first: reported through `done`
  if (input !== undefined) child.stdin!.end(input);

  const done = Promise.all([shellExited, statusClosed, ...stderrClosed]).then(([shell]) => {
    options.signal?.removeEventListener('abort', kill);
    steps.forEach((_, i) => onExit(i)); // steps killed before they reported
    if (shell.error) throw new PgwardenError('Config', `Cannot start ${SHELL} (${shell.error.message}): pgwarden runs its process chains with a POSIX shell.`);
    const results = steps.map((step, i) => stepExit(step, statuses.get(i), stderr[i]!.trim(), shell.signal));
    if (results.every((r) => r.code === 0) && (shell.code === 0 || statuses.size === steps.length)) return;
    const failed = results.filter((r) => r.code !== 0);
    if (failed.length === 0) {
      throw new PgwardenError('Failed', `The process chain ${steps.map((s) => s.label ?? s.command).join(' | ')} failed: ${shellOwnError.trim() || `shell exit ${shell.code}`}`);
    }
    throw causeOf(failed, options.signal);
  });
  done.catch(() => undefined);
  return { stdin: child.stdin!, stdout: options.stdout === 'pipe' ? child.stdout : null, done, kill };
}

/** Each step's stderr (its last STDERR_KEEP characters, for the error message), passed on to its onStderr as it comes. */
function readStderr(steps: Step[], pipeOf: (index: number) => Readable): { stderr: string[]; stderrClosed: Promise<void>[] } {
  const stderr = steps.map(() => '');
  const stderrClosed = steps.map((step, i) => {
    const pipe = pipeOf(i);
    pipe.on('data', (chunk: Buffer) => {
      const text = chunk.toString('utf8');
      step.onStderr?.(text);
      stderr[i] = (stderr[i] + text).slice(-STDERR_KEEP);
    });
    return new Promise<void>((resolve) => pipe.once('close', () => resolve()));
  });
  return { stderr, stderrClosed };
}

/** The "<step> <exit status>" lines the chain's subshells write on fd 3, as they come (each step reported at once). */
function readStatuses(pipe: Readable, steps: number, onStatus: (index: number) => void): Map<number, number> {
  const statuses = new Map<number, number>();
  let text = '';
  pipe.on('data', (chunk: Buffer) => {
    text += chunk.toString('utf8');
    for (let newline = text.indexOf('\n'); newline !== -1; newline = text.indexOf('\n')) {
      const [index, code] = text.slice(0, newline).split(' ').map(Number);
      text = text.slice(newline + 1);
      if (index === undefined || code === undefined || !Number.isInteger(index) || index < 0 || index >= steps) continue;
      statuses.set(index, code);
      onStatus(index);
    }
  });
  return statuses;
}

/** How one step ended, from the status its subshell reported (none: the shell was killed before the step ended). */
function stepExit(step: Step, status: number | undefined, stderr: string, shellSignal: NodeJS.Signals | null): Exit {
  // No status: the shell was killed before this step ended (our SIGKILL, or the worker's kill).
  if (status === undefined) return { step, code: null, signal: shellSignal ?? 'SIGKILL', stderr };
  if (status > 128 && status < 128 + 65) {
    const signal = (Object.entries(constants.signals).find(([, n]) => n === status - 128)?.[0] ?? 'SIGKILL') as NodeJS.Signals;
    return { step, code: null, signal, stderr };
  }
  const notInstalled = (status === 127 || status === 126) && /not found|No such file|Permission denied|cannot execute/i.test(stderr);
  return { step, code: status, signal: null, stderr, ...(notInstalled ? { notInstalled } : {}) };
}

/** A process that died of a broken pipe or of our SIGKILL is a victim; the first other failure is the cause. */
function causeOf(failed: Exit[], signal?: AbortSignal): PgwardenError {
  const victim = (e: Exit) => e.signal === 'SIGPIPE' || e.signal === 'SIGKILL' || /broken pipe|EPIPE/i.test(e.stderr);
  const cause = failed.find((e) => !victim(e)) ?? failed[0]!;
  const name = cause.step.label ?? cause.step.command.split('/').pop()!;
  if (cause.notInstalled) {
    return new PgwardenError('Config', `${name} is not installed (${cause.step.command}): install it on the worker (Debian: apt-get install ${installHint(name)}).`);
  }
  if (signal?.aborted) return new PgwardenError('Failed', `${name} was stopped: the operation was cancelled.`, { retryable: false });
  const explained = cause.step.explain?.(cause.stderr, cause.code);
  if (explained) return explained;
  const detail = cause.stderr.split('\n').filter(Boolean).slice(-6).join('\n  ') || (cause.signal ? `killed by ${cause.signal}` : `exit ${cause.code}`);
  return new PgwardenError('Failed', `${name} failed${cause.code !== null ? ` (exit ${cause.code})` : ''}:\n  ${detail}`);
}

function installHint(name: string): string {
  if (name.startsWith('gpg')) return 'gnupg';
  if (name.startsWith('zstd')) return 'zstd';
  if (/^(psql|pg_)/.test(name)) return 'postgresql-client';
  return name;
}
