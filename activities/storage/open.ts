// Opens the repository a name in pgwarden.yaml refers to (one client per repository per process).
import { repositorySettings } from '../../config/view.js';
import type { Config } from '../../config/schema.js';
import { FsRepository } from './fs.js';
import type { Repository } from './repository.js';
import { S3Repository } from './s3.js';

const opened = new WeakMap<Config, Map<string, Repository>>();

export function openRepository(config: Config, name: string): Repository {
  let byName = opened.get(config);
  if (!byName) opened.set(config, (byName = new Map()));
  const existing = byName.get(name);
  if (existing) return existing;
  const settings = repositorySettings(config, name);
  const repo = settings.type === 's3' ? new S3Repository(name, settings) : new FsRepository(name, settings);
  byName.set(name, repo);
  return repo;
}
