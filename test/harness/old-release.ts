// An earlier release of pgwarden, built from this repository's own history into ~/.cache/pgwarden/releases/<commit>,
// so a test can start work on it and hand that work to the current code (an upgrade, as a deploy does it).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeReachable } from './archiving.js';

const PROJECT = fileURLToPath(new URL('../../../', import.meta.url));

export interface OldRelease {
  commit: string;
  /** The checkout, built: `dist/client/cli.js` is its `pgwarden`. */
  directory: string;
  cli: string;
}

/**
 * The release at `commit`, built once and cached by commit id. Returns a reason instead when the repository's
 * history does not hold the commit (a shallow clone, an exported tree): the caller skips with it.
 */
export function oldRelease(commit: string): OldRelease | { unavailable: string } {
  let full: string;
  try {
    full = execFileSync('git', ['-C', PROJECT, 'rev-parse', '--verify', '--quiet', `${commit}^{commit}`], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return { unavailable: `commit ${commit} is not in the git history of ${PROJECT} (shallow clone or no .git): fetch it (git fetch --unshallow) to run this test` };
  }
  const cache = join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'pgwarden', 'releases');
  const directory = join(cache, full);
  const built = join(directory, '.pgwarden-built');
  if (!existsSync(built)) {
    // Built beside its final place and renamed into it: a run stopped half-way leaves no cache entry that looks whole.
    mkdirSync(cache, { recursive: true });
    const scratch = `${directory}.building-${process.pid}`;
    rmSync(scratch, { recursive: true, force: true });
    mkdirSync(scratch);
    try {
      execFileSync('bash', ['-c', 'set -o pipefail; git -C "$1" archive "$2" | tar -x -C "$3"', 'extract', PROJECT, full, scratch], { stdio: ['ignore', 'ignore', 'pipe'] });
      execFileSync('npm', ['ci', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: scratch, stdio: ['ignore', 'ignore', 'pipe'] });
      execFileSync('npm', ['run', '--silent', 'build'], { cwd: scratch, stdio: ['ignore', 'ignore', 'pipe'] });
      writeFileSync(join(scratch, '.pgwarden-built'), `${full}\n`);
      try {
        renameSync(scratch, directory);
      } catch (error) {
        // Another test process built it at the same time: theirs is as good.
        if (!existsSync(built)) throw error;
        rmSync(scratch, { recursive: true, force: true });
      }
    } catch (error) {
      rmSync(scratch, { recursive: true, force: true });
      const stderr = (error as { stderr?: Buffer }).stderr?.toString() ?? '';
      throw new Error(`could not build release ${commit} in ${scratch}: ${(error as Error).message}\n${stderr}`);
    }
  }
  // Its workers run wal commands as the cluster's OS user as ours do: the cache must be reachable for it too.
  makeReachable(directory);
  return { commit, directory, cli: join(directory, 'dist', 'client', 'cli.js') };
}
