// Finds pg_dump, pg_restore and psql of the right major version: a dump needs pg_dump >= the server's.
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { PgwardenError } from '../../domain/errors.js';
import { childEnvironment } from '../process-environment.js';

export type PgTool = 'pg_dump' | 'pg_dumpall' | 'pg_restore' | 'psql' | 'pg_basebackup' | 'pg_ctl' | 'initdb' | 'postgres' | 'pg_controldata' | 'pg_waldump' | 'pg_verifybackup';

/** Directories where distributions put versioned PostgreSQL binaries, per major version. */
function candidateDirs(): Array<{ major: number; dir: string }> {
  const found: Array<{ major: number; dir: string }> = [];
  const scan = (root: string, pattern: RegExp, sub: string) => {
    if (!existsSync(root)) return;
    for (const entry of readdirSync(root)) {
      const match = pattern.exec(entry);
      if (match) found.push({ major: Number(match[1]), dir: join(root, entry, sub) });
    }
  };
  scan('/usr/lib/postgresql', /^(\d+)$/, 'bin'); // Debian, Ubuntu
  scan('/usr', /^pgsql-(\d+)$/, 'bin'); // RHEL, PGDG rpm
  scan('/opt/homebrew/opt', /^postgresql@(\d+)$/, 'bin'); // macOS Homebrew
  scan('/usr/local/opt', /^postgresql@(\d+)$/, 'bin');
  return found;
}

const versionCache = new Map<string, number>();

async function majorOf(path: string): Promise<number | undefined> {
  if (versionCache.has(path)) return versionCache.get(path);
  try {
    const { stdout } = await execa(path, ['--version'], { env: childEnvironment(), extendEnv: false });
    const major = Number(/(\d+)(?:\.\d+)?/.exec(stdout)?.[1]);
    if (Number.isFinite(major)) versionCache.set(path, major);
    return Number.isFinite(major) ? major : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The tool for a server of major version `serverMajor`: the same major if installed, else the oldest newer
 * one (newer client tools read older servers), else an error that names the package to install.
 */
export async function pgTool(tool: PgTool, serverMajor: number, binDir?: string): Promise<string> {
  if (binDir) {
    const path = join(binDir, tool);
    const major = await majorOf(path);
    if (major === undefined) throw new PgwardenError('Config', `${path} does not run: fix postgres.binDir in pgwarden.yaml.`);
    if (major < serverMajor) {
      throw new PgwardenError('Config', `${path} is version ${major} but the server is ${serverMajor}: point postgres.binDir at PostgreSQL ${serverMajor} or newer.`);
    }
    return path;
  }
  const dirs = candidateDirs()
    .filter(({ major, dir }) => major >= serverMajor && existsSync(join(dir, tool)))
    .sort((a, b) => a.major - b.major);
  if (dirs[0]) return join(dirs[0].dir, tool);
  const onPath = await majorOf(tool);
  if (onPath !== undefined && onPath >= serverMajor) return tool;
  throw new PgwardenError(
    'Config',
    `${tool} for PostgreSQL ${serverMajor} (or newer) is not installed${onPath !== undefined ? ` (the ${tool} on PATH is version ${onPath})` : ''}: ` +
      `install postgresql-client-${serverMajor} (Debian/Ubuntu, from apt.postgresql.org) or postgresql${serverMajor} (RHEL), or set postgres.binDir.`,
  );
}

/**
 * The bin directory of PostgreSQL server `major` (initdb, pg_ctl, postgres): a data directory runs only under
 * its own major version. Without `major`, the newest installed server.
 */
export function serverBinDir(major?: number, binDir?: string): string {
  if (binDir && existsSync(join(binDir, 'pg_ctl'))) return binDir;
  const servers = candidateDirs()
    .filter(({ dir }) => existsSync(join(dir, 'pg_ctl')) && existsSync(join(dir, 'postgres')))
    .sort((a, b) => b.major - a.major);
  const match = major === undefined ? servers[0] : servers.find((s) => s.major === major);
  if (match) return match.dir;
  throw new PgwardenError(
    'Config',
    `PostgreSQL ${major ?? ''} server binaries (initdb, pg_ctl, postgres) are not installed: apt-get install postgresql${major ? `-${major}` : ''} (Debian/Ubuntu), or set postgres.binDir.`.replace('  ', ' '),
  );
}
