// Builds pgwarden as it was at another commit (`npm run bench -- --before REF`), so that one run measures the
// worker before and after a change on the same machine: the commit's files from git (nothing checked out or
// changed in this repository), compiled with this checkout's node_modules, its workflows bundled.
import { mkdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { log } from './util.js';

/** Returns the path of the built `dist/client/cli.js` of `ref`, under `dir`. */
export async function buildAt(repoRoot: string, ref: string, dir: string): Promise<string> {
  const commit = (await execa('git', ['-C', repoRoot, 'rev-parse', '--verify', `${ref}^{commit}`])).stdout.trim();
  const src = join(dir, `pgwarden-${commit.slice(0, 12)}`);
  mkdirSync(src, { recursive: true });
  log(`building pgwarden at ${ref} (${commit.slice(0, 12)}) in ${src}`);
  await execa('bash', ['-c', 'set -o pipefail; git -C "$REPO" archive --format=tar "$COMMIT" | tar -x -C "$SRC"'], { env: { REPO: repoRoot, COMMIT: commit, SRC: src } });
  symlinkSync(join(repoRoot, 'node_modules'), join(src, 'node_modules'));
  await execa(process.execPath, [join(repoRoot, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', src]);
  await execa(process.execPath, [join(src, 'dist', 'worker', 'bundle.js')], { cwd: src });
  return join(src, 'dist', 'client', 'cli.js');
}
