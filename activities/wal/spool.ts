// The local spool of the asynchronous archive commands, outside pg_wal (as pgBackRest and WAL-G keep theirs):
//   out/<name>.ok|.error  results of segments a background pusher archived ahead of PostgreSQL's requests
//   in/<name>             segments a background prefetcher fetched (verified) ahead of recovery's requests
// Node built-ins only: PostgreSQL starts one process per WAL file, and the fast path must start fast.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * --spool as given, else <$PGWARDEN_SPOOL or temp>/pgwarden-spool-<uid>/<database>-<hash of the data directory>:
 * PostgreSQL runs archive and restore commands in the data directory, and two clusters on one host (a restored
 * copy beside its source) must never share a spool.
 */
export function spoolDir(database: string, explicit?: string): string {
  if (explicit) return explicit;
  const base = process.env.PGWARDEN_SPOOL ?? join(tmpdir(), `pgwarden-spool-${process.getuid?.() ?? 'user'}`);
  const cluster = createHash('sha256').update(process.cwd()).digest('hex').slice(0, 10);
  return join(base, `${database}-${cluster}`);
}

export function ensureSpool(dir: string): { out: string; in: string } {
  const out = join(dir, 'out');
  const incoming = join(dir, 'in');
  mkdirSync(out, { recursive: true, mode: 0o700 });
  mkdirSync(incoming, { recursive: true, mode: 0o700 });
  return { out, in: incoming };
}

/** Takes `lock` for this process unless a live process holds it; true when taken. */
export function takeLock(lock: string): boolean {
  for (let attempt = 0; attempt < 2; attempt += 1) {
    try {
      const fd = openSync(lock, 'wx');
      writeFileSync(fd, String(process.pid));
      closeSync(fd);
      return true;
    } catch {
      const holder = Number(readFileSync(lock, 'utf8').trim() || '0');
      if (holder && processAlive(holder)) return false;
      rmSync(lock, { force: true }); // left by a process that died
    }
  }
  return false;
}

export function releaseLock(lock: string): void {
  try {
    if (Number(readFileSync(lock, 'utf8').trim()) === process.pid) rmSync(lock, { force: true });
  } catch {
    /* gone already */
  }
}

export function lockHeld(lock: string): boolean {
  try {
    const holder = Number(readFileSync(lock, 'utf8').trim() || '0');
    return holder > 0 && processAlive(holder);
  } catch {
    return false;
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Starts `pgwarden <args>` detached, logging into the spool; it outlives the command PostgreSQL ran. */
export function startBackground(cliPath: string, args: string[], logFile: string): void {
  const log = openSync(logFile, 'a');
  const child = spawn(process.execPath, [cliPath, ...args], { detached: true, stdio: ['ignore', log, log] });
  child.unref();
  closeSync(log);
}

/** Waits for `<name>.ok` or `<name>.error` in `out`; consumes it. undefined after `timeoutMs`. */
export async function awaitPushResult(out: string, name: string, timeoutMs: number): Promise<{ ok: true } | { ok: false; message: string } | undefined> {
  const deadline = Date.now() + timeoutMs;
  let pause = 5;
  for (;;) {
    const result = takePushResult(out, name);
    if (result) return result;
    if (Date.now() > deadline) return undefined;
    await new Promise((resolve) => setTimeout(resolve, pause));
    pause = Math.min(100, pause * 2);
  }
}

export function takePushResult(out: string, name: string): { ok: true } | { ok: false; message: string } | undefined {
  const ok = join(out, `${name}.ok`);
  if (existsSync(ok)) {
    rmSync(ok, { force: true });
    return { ok: true };
  }
  const error = join(out, `${name}.error`);
  if (existsSync(error)) {
    const message = readFileSync(error, 'utf8');
    rmSync(error, { force: true });
    return { ok: false, message };
  }
  return undefined;
}

/** Marks, in the prefetch spool, a file the prefetcher found not archived. */
export const MISSING = '.missing';
/** How long such a mark answers "not archived" without asking the repository again. */
export const MISSING_FOR_MS = 30_000;

/** True when the prefetcher found `name` not archived less than MISSING_FOR_MS ago. */
export function knownMissing(incoming: string, name: string): boolean {
  const mark = join(incoming, `${name}${MISSING}`);
  try {
    return Date.now() - Date.parse(readFileSync(mark, 'utf8')) < MISSING_FOR_MS;
  } catch {
    return false;
  }
}
