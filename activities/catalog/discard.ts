// What a failed backup leaves is removed, whatever kind it was: a folder without a manifest is no backup.
import type { Repository } from '../storage/repository.js';
import { MANIFEST_FILE, readManifest } from './manifest.js';

/**
 * Removes a backup folder's objects and unfinished uploads, unless its manifest says it is complete. A complete
 * copy is removed too when its manifest names `writtenBy`, the failed run itself: that backup failed after writing
 * it (a later repository refused its copy), and a failed backup removes what it wrote.
 */
export async function discardIncomplete(repo: Repository, folder: string, writtenBy?: { workflowId: string; runId: string }): Promise<number> {
  let removed = await repo.abortIncompleteWrites(folder);
  if (await repo.head(`${folder}${MANIFEST_FILE}`)) {
    const manifest = writtenBy ? await readManifest(repo, folder).catch(() => undefined) : undefined;
    if (!manifest?.temporal || manifest.temporal.workflowId !== writtenBy!.workflowId || manifest.temporal.runId !== writtenBy!.runId) return removed;
    // The manifest first: a folder half removed is then no backup, as one half written is not.
    await repo.delete([`${folder}${MANIFEST_FILE}`]);
    removed += 1;
  }
  const keys: string[] = [];
  for await (const object of repo.list(folder)) keys.push(object.key);
  await repo.delete(keys);
  removed += keys.length;
  return removed;
}
