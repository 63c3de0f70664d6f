// The commands PostgreSQL starts once per WAL segment (wal-push as archive_command, wal-fetch as restore_command)
// pay Node's start-up for every segment. They run from one bundled file (commands/wal-entry.bundle.js, built by
// `npm run build`: no module resolution, no other part of the CLI), with Node's compile cache where Node has one.
// Node built-ins only: this module is loaded before anything else.
import { lstatSync, mkdirSync } from 'node:fs';
import module from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const PER_SEGMENT = new Set(['wal-push', 'wal-fetch']);

/** The bundle `npm run build` makes of commands/wal-entry.ts; beside wal.js, so that its relative paths hold. */
export const WAL_ENTRY_BUNDLE = fileURLToPath(new URL('./commands/wal-entry.bundle.js', import.meta.url));

/** The command word of `args` (the arguments after the script), past the global options; undefined if unsure. */
export function commandOf(args: string[]): string | undefined {
  for (let i = 0; i < args.length; i += 1) {
    const arg = args[i]!;
    if (arg === '-c' || arg === '--config') i += 1;
    else if (!(arg.startsWith('--config=') || /^-c./.test(arg) || arg === '--json')) return arg.startsWith('-') ? undefined : arg;
  }
  return undefined;
}

/** Runs `args` and returns true when they name a per-segment command; false leaves them to the full CLI. */
export async function runPerSegmentCommand(args: string[]): Promise<boolean> {
  const command = commandOf(args);
  if (command === undefined || !PER_SEGMENT.has(command)) return false;
  enableCompileCache();
  let entry: string;
  try {
    lstatSync(WAL_ENTRY_BUNDLE);
    entry = WAL_ENTRY_BUNDLE;
  } catch {
    entry = fileURLToPath(new URL('./commands/wal-entry.js', import.meta.url)); // built by tsc alone: the same, unbundled
  }
  const { runWalCommand } = (await import(pathToFileURL(entry).href)) as typeof import('./commands/wal-entry.js');
  await runWalCommand(args);
  return true;
}

/**
 * Node 22.1 and later keep the compiled code of the modules they load on disk, so the next process skips compiling
 * the bundle (Node 20 has no such cache: nothing happens). The cache is code this user runs: it lives in a directory
 * of this user's alone (0700, owned), never in one another user could have made; NODE_COMPILE_CACHE and
 * NODE_DISABLE_COMPILE_CACHE are Node's own switches and win.
 */
function enableCompileCache(): void {
  const enable = (module as { enableCompileCache?: (dir?: string) => unknown }).enableCompileCache;
  if (typeof enable !== 'function' || process.env.NODE_DISABLE_COMPILE_CACHE) return;
  try {
    if (process.env.NODE_COMPILE_CACHE) {
      enable();
      return;
    }
    const dir = join(tmpdir(), `pgwarden-compile-cache-${process.getuid?.() ?? 'user'}`);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const stat = lstatSync(dir);
    if (!stat.isDirectory() || (process.getuid && stat.uid !== process.getuid()) || (stat.mode & 0o077) !== 0) return;
    enable(dir);
  } catch {
    /* a cache only */
  }
}
