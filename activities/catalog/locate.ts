// Finds backups across every repository a database's backups go to (kinds can go to different ones).
import { PgwardenError } from '../../config/errors.js';
import { databaseView } from '../../config/load.js';
import type { Config } from '../../config/schema.js';
import { openRepository } from '../storage/open.js';
import { findBackup, listBackups } from './list.js';
import { backupFolder, readManifest, type BackupManifest } from './manifest.js';

/** One logical backup and the repositories that hold a complete copy of it. */
export interface LocatedBackup {
  manifest: BackupManifest;
  repositories: string[];
}

/** The complete logical backups of `database` in `repositories` (default: all of the database's), oldest first. */
export async function listBackupsEverywhere(config: Config, database: string, repositories = databaseView(config, database).allRepositories): Promise<LocatedBackup[]> {
  const byId = new Map<string, LocatedBackup>();
  for (const repository of repositories) {
    for (const manifest of await listBackups(openRepository(config, repository), database, 'logical')) {
      const known = byId.get(manifest.id);
      if (known) known.repositories.push(repository);
      else byId.set(manifest.id, { manifest, repositories: [repository] });
    }
  }
  return [...byId.values()].sort((a, b) => a.manifest.finishedAt.localeCompare(b.manifest.finishedAt) || a.manifest.id.localeCompare(b.manifest.id));
}

/**
 * The backup a restore names, in whichever repository holds it: an id is looked up in the database's
 * repositories in order; "latest" is the newest in any of them. `repository` restricts the search to one.
 */
export async function locateBackup(config: Config, database: string, idOrLatest: string, repository?: string): Promise<{ manifest: BackupManifest; repository: string }> {
  const db = databaseView(config, database);
  if (repository !== undefined) {
    if (!db.allRepositories.includes(repository)) {
      throw new PgwardenError('Config', `Database "${database}" is not backed up to repository "${repository}" (it uses ${db.allRepositories.join(', ')}).`);
    }
    return { manifest: await findBackup(openRepository(config, repository), database, 'logical', idOrLatest), repository };
  }
  if (db.allRepositories.length === 1) return locateBackup(config, database, idOrLatest, db.allRepositories[0]);
  if (idOrLatest !== 'latest') {
    for (const name of db.allRepositories) {
      const manifest = await readManifest(openRepository(config, name), backupFolder(database, 'logical', idOrLatest));
      if (manifest) return { manifest, repository: name };
    }
  }
  const all = await listBackupsEverywhere(config, database, db.allRepositories);
  const latest = all.at(-1);
  if (idOrLatest === 'latest' && latest) return { manifest: latest.manifest, repository: latest.repositories[0]! };
  const where = `repositories ${db.allRepositories.join(', ')}`;
  if (idOrLatest === 'latest') {
    throw new PgwardenError('NotFound', `No logical backup of "${database}" in ${where}: run \`pgwarden backup --db ${database}\` first.`);
  }
  const recent = all.slice(-5).map((b) => b.manifest.id);
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
    const batch = await Promise.all(folders.slice(i, i + 16).map((folder) => readManifest(repo, folder).catch(skipDamaged)));
    for (const manifest of batch) if (manifest?.kind === 'pre-migration' && manifest.migrationId === migrationId) found.push(manifest);
  }
  return found.sort((a, b) => a.finishedAt.localeCompare(b.finishedAt));
}

function skipDamaged(error: unknown): undefined {
  if (error instanceof PgwardenError && error.kind === 'Integrity') return undefined;
  throw error;
}
