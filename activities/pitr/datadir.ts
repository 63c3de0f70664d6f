// A restored cluster's data directory: the marker that makes it pgwarden's (the only kind it ever deletes), the
// folder pgwarden keeps inside it, and the handle that runs the server there as the cluster's OS user.
import { join } from 'node:path';
import type { Config } from '../../config/schema.js';
import { serverBinDir } from '../postgres/binaries.js';
import { clusterUser, LocalCluster, type OsUser } from '../postgres/cluster.js';

/** In data directories pgwarden created: the only ones it will ever delete. */
export const MARKER = '.pgwarden-restore';

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
