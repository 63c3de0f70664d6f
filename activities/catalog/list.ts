// Finds the backups a repository holds: only those with a manifest exist.
import { PgwardenError } from '../../config/errors.js';
import type { Repository } from '../storage/repository.js';
import { backupFolder, readManifest, type BackupManifest } from './manifest.js';

/** Complete backups of `database`, oldest first. */
export async function listBackups(repo: Repository, database: string, type: 'logical' | 'base'): Promise<BackupManifest[]> {
  const folders = await repo.listFolders(`${database}/${type}/`);
  const manifests: BackupManifest[] = [];
  // Manifests are small: read a few at a time so a long history lists quickly.
  for (let i = 0; i < folders.length; i += 16) {
    const batch = await Promise.all(folders.slice(i, i + 16).map((folder) => readManifest(repo, folder)));
    for (const manifest of batch) if (manifest) manifests.push(manifest);
  }
  // By time (ids only have seconds), then id.
  return manifests.sort((a, b) => a.finishedAt.localeCompare(b.finishedAt) || a.id.localeCompare(b.id));
}

/** The backup `idOrLatest` names; a missing one fails with the ids that do exist. */
export async function findBackup(repo: Repository, database: string, type: 'logical' | 'base', idOrLatest: string): Promise<BackupManifest> {
  if (idOrLatest !== 'latest') {
    const manifest = await readManifest(repo, backupFolder(database, type, idOrLatest));
    if (manifest) return manifest;
  }
  const all = await listBackups(repo, database, type);
  if (idOrLatest === 'latest') {
    const latest = all.at(-1);
    if (latest) return latest;
    throw new PgwardenError('NotFound', `No ${type} backup of "${database}" in repository "${repo.name}" (${repo.location}): run \`pgwarden backup --db ${database}\` first.`);
  }
  const recent = all.slice(-5).map((m) => m.id);
  throw new PgwardenError(
    'NotFound',
    `Backup "${idOrLatest}" of "${database}" does not exist in repository "${repo.name}" (or has no manifest, so it never finished). ` +
      (recent.length ? `Newest: ${recent.join(', ')}. ` : 'There are no backups. ') +
      `List them with \`pgwarden backups list --db ${database}\`.`,
  );
}
