// What every part asks of a validated configuration: a database with its defaults applied, a repository by name.
// No yaml and no zod here: the commands PostgreSQL runs once per WAL segment load this without them.
import { PgwardenError } from '../domain/errors.js';
import type { Config, DatabaseSettings, Environment, RepositorySettings } from './schema.js';
import { BACKUP_KINDS, type BackupKind } from '../domain/kinds.js';

/** The runbook's table of targets: production < 1 h / < 24 h, staging < 4 h / < 1 week, development none. */
export const DEFAULT_TARGETS: Record<Environment, { rtoMs?: number; rpoMs?: number }> = {
  production: { rtoMs: 3_600_000, rpoMs: 86_400_000 },
  staging: { rtoMs: 4 * 3_600_000, rpoMs: 7 * 86_400_000 },
  development: {},
};

export interface DatabaseView {
  name: string;
  settings: DatabaseSettings;
  /** Repository names in order; the first is the one restores read from. */
  repositories: string[];
  /** Where backups of `kind` go: kinds.<kind>.repositories, else the database's repositories. */
  repositoriesFor(kind: BackupKind): string[];
  /** Every repository any kind of its backups goes to, the database's own first: where restores and listings look. */
  allRepositories: string[];
  /** How long backups of `kind` are kept: kinds.<kind>.retention, else retention.<kind>. */
  retentionFor(kind: BackupKind): number;
  rtoMs?: number;
  rpoMs?: number;
}

/** The database `name` from config, with defaults applied; an unknown name fails with the known ones listed. */
export function databaseView(config: Config, name: string): DatabaseView {
  const settings = config.databases[name];
  if (!settings) {
    const known = Object.keys(config.databases);
    throw new PgwardenError(
      'Config',
      `Unknown database "${name}": pgwarden.yaml declares ${known.length ? known.map((k) => `"${k}"`).join(', ') : 'no databases'}. Add it under databases: or fix --db.`,
    );
  }
  const defaults = DEFAULT_TARGETS[settings.environment];
  const repositories = settings.repositories ?? Object.keys(config.repositories).slice(0, 1);
  const repositoriesFor = (kind: BackupKind) => settings.kinds?.[kind]?.repositories ?? repositories;
  return {
    name,
    settings,
    repositories,
    repositoriesFor,
    allRepositories: [...new Set([...repositories, ...BACKUP_KINDS.flatMap(repositoriesFor)])],
    retentionFor: (kind) => settings.kinds?.[kind]?.retention ?? config.retention[kind],
    rtoMs: settings.rto ?? defaults.rtoMs,
    rpoMs: settings.rpo ?? defaults.rpoMs,
  };
}

export function repositorySettings(config: Config, name: string): RepositorySettings {
  const repo = config.repositories[name];
  if (!repo) throw new PgwardenError('Config', `Unknown repository "${name}": declare it under repositories: in pgwarden.yaml.`);
  return repo;
}
