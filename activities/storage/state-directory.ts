// Where pgwarden keeps its fixed-name local state by default (the WAL spool, the GnuPG home): under the OS user's
// own home directory (~/.pgwarden/<name>), which no other local user can create first. A fixed name in the shared
// temp directory could be made by anyone beforehand, and the private-directory check would then (safely) refuse it
// and stop archiving until an admin removed it. Only a user without a usable home of its own (no passwd entry, or
// a home it does not own, such as / or /nonexistent) falls back to the temp directory, with that check.
// Node built-ins only: the archive commands PostgreSQL runs must start fast.
import { statSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';

let cachedHome: { path: string | undefined } | undefined; // asked once per process: gpg runs once per object

/** This OS user's home from the passwd database (not $HOME, which a parent process may have left pointing elsewhere). */
function ownHome(): string | undefined {
  cachedHome ??= { path: lookUpHome() };
  return cachedHome.path;
}

function lookUpHome(): string | undefined {
  try {
    const home = userInfo().homedir;
    if (!home || home === '/') return undefined;
    const uid = process.getuid?.();
    const stat = statSync(home);
    return stat.isDirectory() && (uid === undefined || stat.uid === uid) ? home : undefined;
  } catch {
    return undefined; // no passwd entry (an arbitrary container uid), or the home does not exist
  }
}

/** The default place of `name`: ~/.pgwarden/<name>, or <temp>/pgwarden-<name>-<uid> without a home of one's own. */
export function defaultStateDirectory(name: string): string {
  const home = ownHome();
  return home ? join(home, '.pgwarden', name) : join(tmpdir(), `pgwarden-${name}-${process.getuid?.() ?? 'user'}`);
}
