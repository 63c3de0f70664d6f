// A chain of processes joined by OS pipes (zstd | gpg, gpg -d | zstd -d | psql): the bytes between them never
// pass through Node, so compression, encryption and loading run on their own cores while Node only feeds the
// first and reads the last. When something fails, the error names the process that caused it, not the ones
// that merely lost their input or output.
import { spawn, type ChildProcess } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { PgwardenError } from '../../config/errors.js';
import { childEnvironment } from '../process-environment.js';

export interface Step {
  command: string;
  args: string[];
  /** What this process needs beyond PATH, locale and the like: it gets nothing else of the worker's environment. */
  env?: Record<string, string>;
  /** Written to the process's fd 3 and closed (gpg's --passphrase-fd 3): secrets never go on the command line. */
  fd3?: string;
  /** How to describe this process in errors ("gpg (decrypt)"). */
  label?: string;
  /** Classifies this process's failure (stderr, exit code) when it is the cause; default: Failed. */
  explain?: (stderr: string, exitCode: number | null) => PgwardenError | undefined;
  /** Called when the process has exited, before `done` settles (to read a report file it wrote). */
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
  spawnError?: Error;
}

const STDERR_KEEP = 8_192;

export function chain(steps: Step[], options: { stdin?: 'pipe' | 'ignore'; stdout: 'pipe' | 'ignore'; signal?: AbortSignal }): Chain {
  const children: ChildProcess[] = [];
  const exits: Array<Promise<Exit>> = [];
  let previous: ChildProcess | undefined;
  steps.forEach((step, index) => {
    const last = index === steps.length - 1;
    const child = spawn(step.command, step.args, {
      env: childEnvironment(step.env),
      stdio: [
        previous ? previous.stdout! : index === 0 && options.stdin === 'ignore' ? 'ignore' : 'pipe',
        last ? options.stdout : 'pipe',
        'pipe',
        ...(step.fd3 !== undefined ? ['pipe' as const] : []),
      ],
    });
    if (step.fd3 !== undefined) {
      const fd3 = child.stdio[3] as Writable;
      fd3.on('error', () => undefined);
      fd3.end(`${step.fd3}\n`);
    }
    let stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => {
      const text = chunk.toString('utf8');
      step.onStderr?.(text);
      stderr = (stderr + text).slice(-STDERR_KEEP);
    });
    exits.push(
      new Promise<Exit>((resolve) => {
        let spawnError: Error | undefined;
        child.once('error', (error) => (spawnError = error));
        child.once('close', (code, signal) => {
          try {
            step.onExit?.();
          } catch {
            /* the report is optional; the caller notices what is missing */
          }
          resolve({ step, code, signal, stderr: stderr.trim(), ...(spawnError ? { spawnError } : {}) });
        });
      }),
    );
    // Our copy of the pipe between two processes is closed once the next one holds it.
    if (previous) previous.stdout!.destroy();
    children.push(child);
    previous = child;
  });
  const kill = () => {
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  };
  options.signal?.addEventListener('abort', kill, { once: true });
  const first = children[0]!;
  first.stdin?.on('error', () => undefined); // EPIPE when the chain died first: reported through `done`
  const done = Promise.all(exits).then((results) => {
    options.signal?.removeEventListener('abort', kill);
    const failed = results.filter((r) => r.spawnError || r.code !== 0);
    if (failed.length === 0) return;
    throw causeOf(failed, options.signal);
  });
  done.catch(() => undefined);
  return { stdin: first.stdin!, stdout: options.stdout === 'pipe' ? previous!.stdout : null, done, kill };
}

/** A process that died of a broken pipe or of our SIGKILL is a victim; the first other failure is the cause. */
function causeOf(failed: Exit[], signal?: AbortSignal): PgwardenError {
  const victim = (e: Exit) => e.signal === 'SIGPIPE' || e.signal === 'SIGKILL' || /broken pipe|EPIPE/i.test(e.stderr);
  const cause = failed.find((e) => !victim(e)) ?? failed[0]!;
  const name = cause.step.label ?? cause.step.command.split('/').pop()!;
  if (cause.spawnError && (cause.spawnError as NodeJS.ErrnoException).code === 'ENOENT') {
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
