// The local spool of the asynchronous archive commands, outside pg_wal (as pgBackRest and WAL-G keep theirs):
//   out/<name>.ok|.error    results of files a background pusher archived ahead of PostgreSQL's requests; an .ok
//                           holds the sha256 of what was archived, and counts only for a file with that content
//   in/<name>, <name>.sha256  segments fetched (verified) ahead of recovery's requests, with their sha256: a file
//                           is used only when it still matches
// Every level is a private directory (0700, this user's): see storage/private-directory.ts.
// Node built-ins only: PostgreSQL starts one process per WAL file, and the fast path must start fast.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, copyFileSync, existsSync, linkSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { privateDirectory } from '../storage/private-directory.js';
import { defaultStateDirectory } from '../storage/state-directory.js';
import { sleep } from '../sleep.js';
import { processAlive } from '../process-alive.js';

const FIX = 'or point --spool (or PGWARDEN_SPOOL) at a directory of your own';

/** $PGWARDEN_SPOOL, else ~/.pgwarden/spool of the user PostgreSQL runs as (see storage/state-directory.ts). */
function spoolBase(): string {
  return process.env.PGWARDEN_SPOOL ?? defaultStateDirectory('spool');
}

/**
 * --spool as given, else <$PGWARDEN_SPOOL or ~/.pgwarden/spool>/<database>-<hash of the data directory>:
 * PostgreSQL runs archive and restore commands in the data directory, and two clusters on one host (a restored
 * copy beside its source) must never share a spool.
 */
export function spoolDir(database: string, explicit?: string): string {
  if (explicit) return explicit;
  const base = spoolBase();
  const cluster = createHash('sha256').update(process.cwd()).digest('hex').slice(0, 10);
  return join(base, `${database}-${cluster}`);
}

/** Makes (or checks) the spool and its two folders: private directories, the shared base above them too. */
export function ensureSpool(dir: string): { out: string; in: string } {
  const parent = dirname(dir);
  if (parent === spoolBase()) {
    mkdirSync(dirname(parent), { recursive: true });
    privateDirectory(parent, 'The WAL spool folder', FIX);
  } else {
    mkdirSync(parent, { recursive: true });
  }
  privateDirectory(dir, 'The WAL spool', FIX);
  return { out: privateDirectory(join(dir, 'out'), 'The WAL spool', FIX), in: privateDirectory(join(dir, 'in'), 'The WAL spool', FIX) };
}

export function sha256Of(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Puts verified bytes into `incoming` as `name`, with the sha256 that makes them usable (for sha256sum -c too). */
export function spoolFile(incoming: string, name: string, data: Buffer): void {
  const file = join(incoming, name);
  writeFileSync(`${file}.sha256.tmp`, `${sha256Of(data)}  ${file}\n`);
  writeFileSync(`${file}.tmp`, data);
  renameSync(`${file}.sha256.tmp`, `${file}.sha256`);
  renameSync(`${file}.tmp`, file);
}

/**
 * The path of spooled file `name` when its content matches the sha256 written beside it (the caller moves it into
 * place with serveSpooled, the checksum with it); otherwise both go and undefined comes back (the caller fetches
 * from the archive).
 */
export function verifiedSpoolFile(incoming: string, name: string): string | undefined {
  const file = join(incoming, name);
  if (!existsSync(file)) return undefined;
  let good = false;
  try {
    const expected = readFileSync(`${file}.sha256`, 'utf8').split(/\s/)[0];
    good = Boolean(expected) && sha256Of(readFileSync(file)) === expected;
  } catch {
    /* no checksum: not ours to use */
  }
  if (good) return file;
  rmSync(`${file}.sha256`, { force: true });
  rmSync(file, { force: true });
  return undefined;
}

/** Where the segment restore_command served last is kept, for PostgreSQL's second request of it. */
export function servedDirectory(incoming: string): string {
  return join(incoming, 'served');
}

/**
 * Puts a verified spooled file (from verifiedSpoolFile, in `incoming` or its served directory) at `destination`,
 * and keeps it, with its checksum, as the one file served last: when recovery ends PostgreSQL reads the last
 * segment it replayed once more through restore_command, and finds it there instead of in the archive (a fetch
 * of its own, about half a second). The kept file is a hard link (no copy); what PostgreSQL later writes into its
 * own (a recycled segment) fails the checksum, and then the archive is asked.
 */
export function serveSpooled(incoming: string, file: string, destination: string): void {
  const served = servedDirectory(incoming);
  mkdirSync(served, { recursive: true, mode: 0o700 });
  const name = basename(file);
  const kept = join(served, name);
  for (const old of readdirSync(served)) if (old !== name && old !== `${name}.sha256`) rmSync(join(served, old), { force: true });
  if (file !== kept) {
    rmSync(kept, { force: true });
    try {
      linkSync(file, kept);
      renameSync(`${file}.sha256`, `${kept}.sha256`);
    } catch {
      rmSync(kept, { force: true }); // nothing kept: a second request goes to the archive, as before
    }
    rmSync(`${file}.sha256`, { force: true });
  }
  try {
    if (file === kept) copyFileSync(file, destination);
    else renameSync(file, destination);
  } catch {
    copyFileSync(file, destination); // the spool is on another file system than pg_wal
    if (file !== kept) rmSync(file, { force: true });
  }
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
      let holder: number;
      try {
        holder = Number(readFileSync(lock, 'utf8').trim() || '0');
        // Empty: its taker is between creating it and writing its pid. Only an old empty lock was left by a crash.
        if (!holder && Date.now() - statSync(lock).mtimeMs < 5_000) return false;
      } catch {
        continue; // released meanwhile: try again
      }
      if (holder && processAlive(holder)) return false;
      rmSync(lock, { force: true }); // left by a process that died
    }
  }
  return false;
}

/** Takes `lock`, waiting while a live process holds it, for at most `timeoutMs`; true when taken. */
export async function waitForLock(lock: string, timeoutMs: number): Promise<boolean> {
  const until = Date.now() + timeoutMs;
  while (!takeLock(lock)) {
    if (Date.now() >= until) return false;
    await sleep(25);
  }
  return true;
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

/** Starts `pgwarden <args>` detached, logging into the spool; it outlives the command PostgreSQL ran. */
export function startBackground(cliPath: string, args: string[], logFile: string): void {
  const log = openSync(logFile, 'a');
  const child = spawn(process.execPath, [cliPath, ...args], { detached: true, stdio: ['ignore', log, log] });
  child.unref();
  closeSync(log);
}

export type PushResult = { ok: true } | { ok: false; message: string };

/** Records that file `name` with content `sha256` is archived (or why not). */
export function writePushResult(out: string, name: string, result: { sha256: string } | { error: string }): void {
  const [file, text] = 'sha256' in result ? [join(out, `${name}.ok`), result.sha256] : [join(out, `${name}.error`), result.error];
  writeFileSync(`${file}.tmp`, text);
  renameSync(`${file}.tmp`, file);
}

/** Waits for `<name>.ok` or `<name>.error` in `out`; consumes it. undefined after `timeoutMs`. */
export async function awaitPushResult(out: string, name: string, sha256: () => string, timeoutMs: number): Promise<PushResult | undefined> {
  const deadline = Date.now() + timeoutMs;
  let pause = 5;
  for (;;) {
    const result = takePushResult(out, name, sha256);
    if (result) return result;
    if (Date.now() > deadline) return undefined;
    await sleep(pause);
    pause = Math.min(100, pause * 2);
  }
}

/** An .ok counts only when it names the content of the file PostgreSQL asks about (`sha256`, computed on demand). */
export function takePushResult(out: string, name: string, sha256: () => string): PushResult | undefined {
  const ok = join(out, `${name}.ok`);
  if (existsSync(ok)) {
    const archived = readFileSync(ok, 'utf8').trim();
    rmSync(ok, { force: true });
    return archived === sha256() ? { ok: true } : undefined;
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
/**
 * Written into a restore spool once recovery has ended: a prefetcher that takes the spool's lock after that fetches
 * nothing (one wal-fetch started just before promotion would otherwise refill what the end of recovery emptied).
 */
export const RECOVERY_ENDED = 'recovery-ended';

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
