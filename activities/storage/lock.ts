// Retention dates for S3 Object Lock: an object is locked until the end of its kind's retention, so that nobody
// holding the worker's credentials can delete or overwrite a backup before retention would remove it anyway.
import { databaseView } from '../../config/view.js';
import type { Config } from '../../config/schema.js';
import type { BackupKind } from '../../domain/kinds.js';

const DAY_MS = 86_400_000;

/** A logical backup's objects: its start + the retention of its kind (retention removes it after finish + that). */
export function logicalRetainUntil(config: Config, kind: string, startedAtMs: number): Date {
  const keepMs = config.retention[kind as BackupKind] ?? config.retention.manual;
  return new Date(startedAtMs + keepMs);
}

/**
 * A base backup or WAL written at `writtenAtMs`: + the PITR window. Retention removes them only once a base
 * backup that starts after them is older than the window, so the lock has always ended by then.
 */
export function pitrRetainUntil(config: Config, database: string, writtenAtMs: number): Date {
  const windowMs = databaseView(config, database).settings.pitr?.retention ?? 7 * DAY_MS;
  return new Date(writtenAtMs + windowMs);
}

/** A WAL data key made at `createdAtMs` encrypts the WAL of that day: locked as long as the last of it. */
export function walKeyRetainUntil(config: Config, database: string, createdAtMs: number): Date {
  return pitrRetainUntil(config, database, createdAtMs + DAY_MS);
}
