// Reads pgwarden.yaml, validates it, and answers the questions every part asks of it.
import { readFileSync, existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseDocument } from 'yaml';
import type { z } from 'zod';
import { ConfigSchema, DEFAULT_TARGETS, type Config, type DatabaseSettings, type RepositorySettings } from './schema.js';
import { PgwardenError } from './errors.js';
import { BACKUP_KINDS, type BackupKind } from '../workflows/kinds.js';

export const DEFAULT_CONFIG_FILE = 'pgwarden.yaml';

/** --config, else $PGWARDEN_CONFIG, else ./pgwarden.yaml. */
export function configPath(explicit?: string): string {
  return resolve(explicit ?? process.env.PGWARDEN_CONFIG ?? DEFAULT_CONFIG_FILE);
}

export function loadConfig(path = configPath()): Config {
  if (!existsSync(path)) {
    throw new PgwardenError(
      'Config',
      `No configuration at ${path}: create it (see pgwarden.example.yaml), pass --config FILE or set PGWARDEN_CONFIG.`,
    );
  }
  const doc = parseDocument(readFileSync(path, 'utf8'), { prettyErrors: true });
  if (doc.errors.length > 0) {
    throw new PgwardenError('Config', `${path} is not valid YAML:\n${doc.errors.map((e) => `  ${e.message}`).join('\n')}`);
  }
  return parseConfig(doc.toJS() ?? {}, path);
}

/** Validates an already-parsed document; `source` names it in errors. */
export function parseConfig(input: unknown, source = 'pgwarden.yaml'): Config {
  const result = ConfigSchema.safeParse(input);
  if (!result.success) throw new PgwardenError('Config', formatConfigIssues(result.error.issues, source));
  return result.data;
}

function formatConfigIssues(issues: readonly z.core.$ZodIssue[], source: string): string {
  const lines = issues.map((issue) => {
    const key = issue.path.length > 0 ? issue.path.map(String).join('.') : '(top level)';
    let message = issue.message;
    if (issue.code === 'unrecognized_keys') {
      message = `unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')}: remove or correct ${issue.keys.length > 1 ? 'them' : 'it'} (see pgwarden.example.yaml)`;
    } else if (issue.code === 'invalid_type' && /received undefined/.test(message)) {
      message = `is required (${message})`;
    }
    return `  ${key}: ${message}`;
  });
  return `${source} is invalid:\n${lines.join('\n')}`;
}

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
