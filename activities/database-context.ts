// One database as an activity sees it, resolved once from (config, name): its settings with defaults, its
// repositories, the connections it dumps from and restores to, and the keys. An activity builds it at its start
// and hands it down; what resolves a secret or asks a provider's API does so at most once per context.
import { databaseView, type DatabaseView } from '../config/view.js';
import type { Config, DatabaseSettings } from '../config/schema.js';
import { loadKeyring, type Keyring } from './keys/keyring.js';
import { sourceEndpoint, type PgEndpoint } from './postgres/connection.js';
import { dumpEndpoint, restoreTarget } from './providers/source.js';
import type { NeonDumpSource } from './providers/neon/backup-branch.js';
import { openRepository } from './storage/open.js';
import type { Repository } from './storage/repository.js';
import { openArchive, walRepositoryName, type WalArchive } from './wal/open.js';

export interface DatabaseContext {
  readonly config: Config;
  /** The database's name in pgwarden.yaml. */
  readonly name: string;
  /** Settings with defaults applied, repositories per kind, retention, RTO/RPO. */
  readonly view: DatabaseView;
  readonly settings: DatabaseSettings;
  /** Where its WAL archive and base backups live: pitr.repository, else its first repository. */
  readonly walRepository: string;
  /** A repository by name (one client per repository per process). */
  repository(name: string): Repository;
  /** The WAL archive: its repository, compression and keys; the caller closes the keys. */
  archive(): WalArchive;
  /** Where backups read from (secrets resolved on the first call). */
  source(): PgEndpoint;
  /** Where a backup dumps: the Neon branch made for it, else the source. */
  dumpSource(neon?: NeonDumpSource): Promise<PgEndpoint>;
  /** Where restores go (the drill server for drills): asked once per context, Neon's API included. */
  restoreTarget(server?: 'drill'): Promise<PgEndpoint>;
  /** Every key the configuration names (loaded once per configuration). */
  keyring(): Promise<Keyring>;
}

/** Fails with the known names when `name` is not a database of `config`. */
export function resolveDatabase(config: Config, name: string): DatabaseContext {
  const view = databaseView(config, name);
  let source: PgEndpoint | undefined;
  const targets = new Map<string, Promise<PgEndpoint>>();
  return {
    config,
    name,
    view,
    settings: view.settings,
    walRepository: walRepositoryName(config, name),
    repository: (repository) => openRepository(config, repository),
    archive: () => openArchive(config, name),
    source: () => (source ??= sourceEndpoint(config, name)),
    dumpSource: (neon) => dumpEndpoint(config, name, neon),
    restoreTarget(server) {
      const key = server ?? '';
      let target = targets.get(key);
      if (!target) {
        target = restoreTarget(config, name, server);
        target.catch(() => targets.delete(key)); // a failed lookup is asked again, not remembered
        targets.set(key, target);
      }
      return target;
    },
    keyring: () => loadKeyring(config),
  };
}
