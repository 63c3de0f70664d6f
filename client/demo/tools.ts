// Finds the programs scripts/bootstrap.sh installs (Temporal CLI, versitygw): its cache folder, then PATH.
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';
import { PgwardenError } from '../../domain/errors.js';

/** Must match TOOLS_DIR in scripts/bootstrap.sh. */
export function toolsDir(): string {
  return process.env.PGWARDEN_TOOLS_DIR ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'pgwarden', 'bin');
}

export function findTool(name: 'temporal' | 'versitygw'): string {
  const cached = join(toolsDir(), name);
  if (existsSync(cached)) return cached;
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const candidate = join(dir, name);
    if (dir && existsSync(candidate)) return candidate;
  }
  throw new PgwardenError('Config', `${name} is not installed: run \`bash scripts/bootstrap.sh\` (it installs it into ${toolsDir()}).`);
}
