// Finds the backups a repository holds: only those with a manifest exist; one whose manifest cannot be used is
// reported as damaged and skipped, so that it never hides the others.
import { PgwardenError } from '../../domain/errors.js';
import { warn } from '../progress.js';
import type { Repository } from '../storage/repository.js';
import { backupFolder, readManifest, UnusableManifestError, type BackupManifest } from './manifest.js';

/** A backup whose manifest exists but cannot be used: listed, never restored, never removed by retention. */
export interface DamagedBackup {
  id: string;
  /** What is wrong with it and what to do. */
  reason: string;
  /** Written by a newer pgwarden (upgrade to use it) rather than broken. */
  newerFormat: boolean;
}

export interface BackupCatalog {
  /** Complete backups, oldest first. */
  backups: BackupManifest[];
  damaged: DamagedBackup[];
}

/** Every backup folder of `database` with a manifest: the usable ones, and the damaged ones apart. */
export async function scanBackups(repo: Repository, database: string, type: 'logical' | 'base'): Promise<BackupCatalog> {
  const folders = await repo.listFolders(`${database}/${type}/`);
  const backups: BackupManifest[] = [];
  const damaged: DamagedBackup[] = [];
  // Manifests are small: read a few at a time so a long history lists quickly.
  for (let i = 0; i < folders.length; i += 16) {
    const batch = await Promise.all(
      folders.slice(i, i + 16).map((folder) =>
        readManifest(repo, folder).catch((error: unknown) => {
          if (!(error instanceof UnusableManifestError)) throw error; // storage trouble fails the listing
          damaged.push({ id: folder.slice(0, -1).split('/').pop()!, reason: error.message, newerFormat: error.newerFormat });
          return undefined;
        }),
      ),
    );
    for (const manifest of batch) if (manifest) backups.push(manifest);
  }
  // By time (ids only have seconds), then id.
  backups.sort((a, b) => a.finishedAt.localeCompare(b.finishedAt) || a.id.localeCompare(b.id));
  damaged.sort((a, b) => a.id.localeCompare(b.id));
  return { backups, damaged };
}

/** Complete backups of `database`, oldest first; damaged ones are skipped with a warning. */
export async function listBackups(repo: Repository, database: string, type: 'logical' | 'base'): Promise<BackupManifest[]> {
  const { backups, damaged } = await scanBackups(repo, database, type);
  for (const d of damaged) warn(`skipping ${type} backup ${d.id} of "${database}": ${d.reason}`);
  return backups;
}

/** The newest usable backup, and the damaged ones at least as new that were passed over. */
export async function latestBackup(repo: Repository, database: string, type: 'logical' | 'base'): Promise<{ manifest: BackupManifest; passedOver: DamagedBackup[] }> {
  const { backups, damaged } = await scanBackups(repo, database, type);
  const manifest = backups.at(-1);
  for (const d of damaged) warn(`skipping ${type} backup ${d.id} of "${database}": ${d.reason}`);
  if (!manifest) {
    throw new PgwardenError(
      'NotFound',
      `No ${damaged.length ? 'usable ' : ''}${type} backup of "${database}" in repository "${repo.name}" (${repo.location})` +
        (damaged.length ? ` (${damaged.length} damaged: ${damaged.map((d) => d.id).join(', ')}; \`pgwarden backups list --db ${database}\` says why)` : '') +
        `: run \`pgwarden backup --db ${database}\` first.`,
    );
  }
  // Ids begin with the time the backup started (seconds): the same second counts as newer.
  return { manifest, passedOver: damaged.filter((d) => d.id.slice(0, 16) >= manifest.id.slice(0, 16)) };
}

/** The backup `idOrLatest` names; a missing one fails with the ids that do exist. "latest" skips damaged ones. */
export async function findBackup(repo: Repository, database: string, type: 'logical' | 'base', idOrLatest: string): Promise<BackupManifest> {
  if (idOrLatest === 'latest') return (await latestBackup(repo, database, type)).manifest;
  const manifest = await readManifest(repo, backupFolder(database, type, idOrLatest));
  if (manifest) return manifest;
  const recent = (await listBackups(repo, database, type)).slice(-5).map((m) => m.id);
  throw new PgwardenError(
    'NotFound',
    `Backup "${idOrLatest}" of "${database}" does not exist in repository "${repo.name}" (or has no manifest, so it never finished). ` +
      (recent.length ? `Newest: ${recent.join(', ')}. ` : 'There are no backups. ') +
      `List them with \`pgwarden backups list --db ${database}\`.`,
  );
}
