// Temporary directories of one process, named after it, so that whoever comes next can tell which ones a
// process killed with -9 left behind (no exit handler runs then) and remove them, and never one still in use.
import { lstatSync, mkdtempSync, readdirSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { processAlive } from '../process-alive.js';

/**
 * Two processes may share a temp directory across PID namespaces (containers with one /tmp): a PID means
 * something only within its namespace, so the name carries the namespace too, and only same-namespace
 * leftovers are judged.
 */
function pidNamespace(): string {
  try {
    return /\[(\d+)\]/.exec(readlinkSync('/proc/self/ns/pid'))?.[1] ?? '0';
  } catch {
    return '0';
  }
}

/**
 * Removes this user's `prefix` directories (in `base`, the temp directory by default) whose process is gone,
 * then makes one for this process: `<prefix><pid namespace>.<pid>-XXXXXX`. Its owner removes it when done; if
 * the owner is killed, the next directory made with this prefix on this machine takes it away.
 */
export function processScratchDirectory(prefix: string, base: string = tmpdir(), beforeRemoval?: (path: string) => void): string {
  sweepScratchDirectories(prefix, base, beforeRemoval);
  return mkdtempSync(join(base, `${prefix}${pidNamespace()}.${process.pid}-`));
}

/** `beforeRemoval`: what must stop before a leftover goes (a gpg-agent serving it). */
export function sweepScratchDirectories(prefix: string, base: string = tmpdir(), beforeRemoval?: (path: string) => void): void {
  const namespace = pidNamespace();
  const uid = process.getuid?.();
  let entries: string[];
  try {
    entries = readdirSync(base);
  } catch {
    return;
  }
  for (const entry of entries) {
    if (!entry.startsWith(prefix)) continue;
    const owner = /^(\d+)\.(\d+)-/.exec(entry.slice(prefix.length));
    if (!owner || owner[1] !== namespace) continue;
    const pid = Number(owner[2]);
    if (pid === process.pid || processAlive(pid)) continue;
    const path = join(base, entry);
    try {
      const stat = lstatSync(path);
      if (!stat.isDirectory() || (uid !== undefined && stat.uid !== uid)) continue;
      beforeRemoval?.(path);
      rmSync(path, { recursive: true, force: true });
    } catch {
      // removed meanwhile by another process's sweep, or not ours to remove
    }
  }
}
