// The repository and seal settings of a database's WAL archive, from pgwarden.yaml.
import { databaseView } from '../../config/load.js';
import type { Config } from '../../config/schema.js';
import { resolvePassphrase } from '../../config/secrets.js';
import type { SealSettings } from '../pipeline/seal.js';
import { openRepository } from '../storage/open.js';
import type { Repository } from '../storage/repository.js';

export interface WalArchive {
  repo: Repository;
  settings: SealSettings;
}

/** pitr.repository, else the database's first repository. */
export function walRepositoryName(config: Config, database: string): string {
  const db = databaseView(config, database);
  return db.settings.pitr?.repository ?? db.repositories[0]!;
}

export function openArchive(config: Config, database: string): WalArchive {
  return {
    repo: openRepository(config, walRepositoryName(config, database)),
    // One segment at a time per process: a single zstd thread; level as for backups.
    settings: {
      compression: { level: config.backup.compressionLevel, threads: 1 },
      passphrase: resolvePassphrase(config),
      ...(config.encryption.s2kCount ? { s2kCount: config.encryption.s2kCount } : {}),
    },
  };
}
