// What a failed backup leaves is removed, whatever kind it was: a folder without a manifest is no backup.
import type { Repository } from '../storage/repository.js';
import { MANIFEST_FILE } from './manifest.js';

/** Removes a backup folder's objects and unfinished uploads, unless its manifest says it is complete. */
export async function discardIncomplete(repo: Repository, folder: string): Promise<number> {
  let removed = await repo.abortIncompleteWrites(folder);
  if (await repo.head(`${folder}${MANIFEST_FILE}`)) return removed;
  const keys: string[] = [];
  for await (const object of repo.list(folder)) keys.push(object.key);
  await repo.delete(keys);
  removed += keys.length;
  return removed;
}
