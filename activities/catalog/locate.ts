// Finds backups across every repository a database's backups go to (kinds can go to different ones).
import { PgwardenError } from '../../domain/errors.js';
import { databaseView } from '../../config/load.js';
import type { Config } from '../../config/schema.js';
import { warn } from '../progress.js';
import { openRepository } from '../storage/open.js';
import { findBackup, latestBackup, scanBackups, type DamagedBackup } from './list.js';
import { backupFolder, readManifest, UnusableManifestError, type BackupManifest } from './manifest.js';

/** One logical backup and the repositories that hold a usable copy of it. */
export interface LocatedBackup {
  manifest: BackupManifest;
  repositories: string[];
}

export interface CatalogEverywhere {
  /** Oldest first. */
  backups: LocatedBackup[];
  /** Copies whose manifest cannot be used, with the repository they are in. */
  damaged: Array<DamagedBackup & { repository: string }>;
}

/** The logical backups of `database` in `repositories` (default: all of the database's), usable and damaged apart. */
export async function scanBackupsEverywhere(config: Config, database: string, repositories = databaseView(config, database).allRepositories): Promise<CatalogEverywhere> {
  const byId = new Map<string, LocatedBackup>();
  const damaged: CatalogEverywhere['damaged'] = [];
  for (const repository of repositories) {
    const found = await scanBackups(openRepository(config, repository), database, 'logical');
    for (const d of found.damaged) damaged.push({ ...d, repository });
    for (const manifest of found.backups) {
      const known = byId.get(manifest.id);
      if (known) known.repositories.push(repository);
      else byId.set(manifest.id, { manifest, repositories: [repository] });
    }
  }
  const backups = [...byId.values()].sort((a, b) => a.manifest.finishedAt.localeCompare(b.manifest.finishedAt) || a.manifest.id.localeCompare(b.manifest.id));
  return { backups, damaged };
}

/**
 * The backup a restore names, in whichever repository holds a usable copy: an id is looked up in the database's
 * repositories in order; "latest" is the newest in any of them (with the damaged newer ones it passed over).
 * `repository` restricts the search to that one.
 */
export async function locateBackup(
  config: Config,
  database: string,
  idOrLatest: string,
  repository?: string,
): Promise<{ manifest: BackupManifest; repository: string; passedOver: DamagedBackup[] }> {
  const db = databaseView(config, database);
  if (repository !== undefined && !db.allRepositories.includes(repository)) {
    throw new PgwardenError('Config', `Database "${database}" is not backed up to repository "${repository}" (it uses ${db.allRepositories.join(', ')}).`);
  }
  const only = repository ?? (db.allRepositories.length === 1 ? db.allRepositories[0] : undefined);
  if (only !== undefined) {
    const repo = openRepository(config, only);
    if (idOrLatest === 'latest') return { ...(await latestBackup(repo, database, 'logical')), repository: only };
    return { manifest: await findBackup(repo, database, 'logical', idOrLatest), repository: only, passedOver: [] };
  }

  const where = `repositories ${db.allRepositories.join(', ')}`;
  if (idOrLatest !== 'latest') {
    let unusable: UnusableManifestError | undefined;
    for (const name of db.allRepositories) {
      // A copy whose manifest is damaged in one repository may be intact in the next.
      const manifest = await readManifest(openRepository(config, name), backupFolder(database, 'logical', idOrLatest)).catch((error: unknown) => {
        if (!(error instanceof UnusableManifestError)) throw error;
        unusable ??= error;
        return undefined;
      });
      if (manifest) return { manifest, repository: name, passedOver: [] };
    }
    if (unusable) throw unusable;
  }
  const { backups, damaged } = await scanBackupsEverywhere(config, database, db.allRepositories);
  for (const d of damaged) warn(`skipping logical backup ${d.id} of "${database}" in "${d.repository}": ${d.reason}`);
  const latest = backups.at(-1);
  if (idOrLatest === 'latest' && latest) {
    const usable = new Set(backups.map((b) => b.manifest.id));
    // Ids begin with the time the backup started (seconds): the same second counts as newer.
    const passedOver = damaged.filter((d) => !usable.has(d.id) && d.id.slice(0, 16) >= latest.manifest.id.slice(0, 16));
    return { manifest: latest.manifest, repository: latest.repositories[0]!, passedOver };
  }
  if (idOrLatest === 'latest') {
    throw new PgwardenError('NotFound', `No usable logical backup of "${database}" in ${where}: run \`pgwarden backup --db ${database}\` first.`);
  }
  const recent = backups.slice(-5).map((b) => b.manifest.id);
  throw new PgwardenError(
    'NotFound',
    `Backup "${idOrLatest}" of "${database}" does not exist in ${where} (or has no manifest, so it never finished). ` +
      (recent.length ? `Newest: ${recent.join(', ')}. ` : 'There are no backups. ') +
      `List them with \`pgwarden backups list --db ${database}\`.`,
  );
}

/** Pre-migration backups of one migration in `repository`, oldest first (ids carry the kind, so only those manifests are read). */
export async function preMigrationBackupsIn(config: Config, repository: string, database: string, migrationId: string): Promise<BackupManifest[]> {
  const repo = openRepository(config, repository);
  const folders = (await repo.listFolders(`${database}/logical/`)).filter((folder) => folder.includes('-pre-migration-'));
  const found: BackupManifest[] = [];
  for (let i = 0; i < folders.length; i += 16) {
    // A damaged manifest is not this migration's usable backup: skip it rather than block every migration.
    const batch = await Promise.all(folders.slice(i, i + 16).map((folder) => readManifest(repo, folder).catch(skipUnusable)));
    for (const manifest of batch) if (manifest?.kind === 'pre-migration' && manifest.migrationId === migrationId) found.push(manifest);
  }
  return found.sort((a, b) => a.finishedAt.localeCompare(b.finishedAt));
}

function skipUnusable(error: unknown): undefined {
  if (error instanceof UnusableManifestError) return undefined;
  throw error;
}
