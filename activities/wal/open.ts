// The repository, compression and keys of a database's WAL archive, from pgwarden.yaml.
import { databaseView } from '../../config/load.js';
import type { Config } from '../../config/schema.js';
import { WalKeys } from '../keys/wal-keys.js';
import type { CompressionSettings } from '../pipeline/compress.js';
import { pitrRetainUntil } from '../storage/lock.js';
import { openRepository } from '../storage/open.js';
import type { Repository } from '../storage/repository.js';

export interface WalArchive {
  repo: Repository;
  settings: { compression: CompressionSettings };
  /** The data keys WAL is encrypted with (pushing: the day's key; fetching: the one each object names). */
  keys: WalKeys;
  /** Where the bucket has Object Lock: until when a WAL file written at `ms` stays locked. */
  retainUntil(ms: number): Date;
}

/** pitr.repository, else the database's first repository. */
export function walRepositoryName(config: Config, database: string): string {
  const db = databaseView(config, database);
  return db.settings.pitr?.repository ?? db.repositories[0]!;
}

/** `spool`: the private directory of archive_command/restore_command, where the day's push key is kept. */
export function openArchive(config: Config, database: string, options: { spool?: string } = {}): WalArchive {
  const repo = openRepository(config, walRepositoryName(config, database));
  return {
    repo,
    // One segment at a time per process: a single zstd thread; level as for backups.
    settings: { compression: { level: config.backup.compressionLevel, threads: 1 } },
    keys: new WalKeys(config, repo, database, options.spool),
    retainUntil: (ms) => pitrRetainUntil(config, database, ms),
  };
}
