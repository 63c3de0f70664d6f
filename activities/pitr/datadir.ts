// A restored cluster's data directory: the marker that makes it pgwarden's (the only kind it ever deletes), the
// folder pgwarden keeps inside it, and the handle that runs the server there as the cluster's OS user.
import { existsSync, lstatSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { PgwardenError } from '../../domain/errors.js';
import type { Config } from '../../config/schema.js';
import { serverBinDir } from '../postgres/binaries.js';
import { clusterUser, LocalCluster, type OsUser } from '../postgres/cluster.js';

/** In data directories pgwarden created: the only ones it will ever delete. */
export const MARKER = '.pgwarden-restore';

/** A line of the marker: a directory above the data directory that pgwarden made for it (removed with it). */
export const CREATED_ABOVE = 'made above: ';

/** The directories above `datadir` its marker says pgwarden made, outermost first. */
export function createdAbove(datadir: string): string[] {
  const marker = join(datadir, MARKER);
  if (!existsSync(marker)) return [];
  return readFileSync(marker, 'utf8')
    .split('\n')
    .filter((line) => line.startsWith(CREATED_ABOVE))
    .map((line) => line.slice(CREATED_ABOVE.length));
}

/**
 * A data directory that is a symbolic link is refused: its files would land (and be handed to the cluster's user,
 * and removed on failure) wherever the link points, not where the restore says it put them.
 */
export function refuseSymlink(datadir: string, what: string): void {
  let link: string | undefined;
  try {
    if (lstatSync(datadir).isSymbolicLink()) link = readlinkSync(datadir);
  } catch {
    return; // not there yet: the restore makes it
  }
  if (link !== undefined) {
    throw new PgwardenError('Usage', `${what} ${datadir} is a symbolic link (to ${link}): pgwarden does not follow it. Give the directory itself, or a new path.`);
  }
}

/** pgwarden's own files inside a restored data directory: restore.yaml, the recovery log, the WAL spool. */
export function auxDirectory(datadir: string): string {
  return join(datadir, 'pgwarden');
}

/** Where a restored cluster's restore_command finds WAL fetched ahead (on pg_wal's file system: a rename away). */
export function stageDirectory(datadir: string): string {
  return join(auxDirectory(datadir), 'spool');
}

export function recoveryLog(datadir: string): string {
  return join(auxDirectory(datadir), 'recovery.log');
}

export async function runAsUser(name: string | undefined): Promise<OsUser | undefined> {
  return name ? clusterUser(name) : undefined;
}

/** The restored cluster in `datadir`, run by the server of `serverMajor` as `runAs` (when pgwarden is root). */
export async function restoredCluster(config: Config, input: { datadir: string; serverMajor: number; runAs?: string; port?: number }): Promise<LocalCluster> {
  const user = await runAsUser(input.runAs);
  return new LocalCluster({
    dataDir: input.datadir,
    binDir: serverBinDir(input.serverMajor, config.postgres.binDir),
    port: input.port ?? 0,
    logFile: recoveryLog(input.datadir),
    ...(user ? { user } : {}),
  });
}
