// Waiting for the WAL a base backup needs to reach the archive: its backup history file first (it names the WAL
// range; read from its metadata, so that a worker with public keys only needs no private key), then every segment
// of that range. Until then the backup could never be restored.
import { PgwardenError } from '../../domain/errors.js';
import type { WalKeys } from '../keys/wal-keys.js';
import type { Repository } from '../storage/repository.js';
import { sleep } from '../sleep.js';
import { BACKUP_HISTORY_META, fetchWalBytes, walFolder, walKey, walNameOfKey } from '../wal/archive.js';

/** How often the archive is listed for the backup history file. */
const HISTORY_POLL_MS = 250;
/** How often the archive is asked for the next segment the backup needs. */
const SEGMENT_POLL_MS = 500;

/** Waits for the backup history file (NNN.OFFSET.backup) whose LABEL is `label`, from segment `from` on; its text. */
export async function findBackupHistory(
  repo: Repository,
  database: string,
  from: string,
  label: string,
  keys: WalKeys,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  const seen = new Set<string>();
  for (;;) {
    for await (const object of repo.list(`${walFolder(database)}${from.slice(0, 8)}`)) {
      const name = walNameOfKey(database, object.key);
      if (!name?.endsWith('.backup') || name < from || seen.has(name)) continue;
      seen.add(name);
      // Its text as wal-push recorded it in the metadata (no key needed), else decrypted (archived by an older wal-push).
      const recorded = (await repo.head(object.key))?.metadata?.[BACKUP_HISTORY_META];
      const text = recorded !== undefined ? decodeURIComponent(recorded) : ((await fetchWalBytes(repo, database, name, keys))?.toString('utf8') ?? '');
      if (text.split('\n').some((line) => line.trim() === `LABEL: ${label}`)) return text;
    }
    if (signal?.aborted) throw new PgwardenError('Failed', 'Cancelled while waiting for WAL to be archived.', { retryable: false });
    if (Date.now() > deadline) {
      throw new PgwardenError(
        'Failed',
        `The backup history file of the base backup ("${label}") did not reach the archive within ${Math.round(timeoutMs / 60_000)} min: ` +
          `is archive_command running \`pgwarden wal-push --db ${database}\`? Look at the PostgreSQL log and \`pgwarden wal status --db ${database}\`.`,
        { retryable: false },
      );
    }
    await sleep(HISTORY_POLL_MS);
  }
}

export async function waitForArchive(repo: Repository, database: string, names: string[], timeoutMs: number, onArchived: () => void, signal?: AbortSignal): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (const name of names) {
    while (!(await repo.head(walKey(database, name)))) {
      if (signal?.aborted) throw new PgwardenError('Failed', 'Cancelled while waiting for WAL to be archived.', { retryable: false });
      if (Date.now() > deadline) {
        throw new PgwardenError(
          'Failed',
          `WAL segment ${name}, which the base backup needs, did not reach the archive within ${Math.round(timeoutMs / 60_000)} min: ` +
            `is archive_command running \`pgwarden wal-push --db ${database}\`? Look at the PostgreSQL log and \`pgwarden wal status --db ${database}\`.`,
          { retryable: false },
        );
      }
      await sleep(SEGMENT_POLL_MS);
    }
    onArchived();
  }
}
