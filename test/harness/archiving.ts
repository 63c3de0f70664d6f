// A PostgreSQL cluster that archives its WAL with `pgwarden wal-push`, as a production cluster would.
import { chmodSync, mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import type { Config, ConfigInput } from '../../config/schema.js';
import { testConfig } from './config.js';
import { startCluster, type TestCluster } from './postgres.js';
import type { DatabaseRef, Stack } from './stack.js';

export const CLI = fileURLToPath(new URL('../../client/cli.js', import.meta.url));
const PROJECT = fileURLToPath(new URL('../../../', import.meta.url));

/**
 * The cluster's OS user runs `node dist/client/cli.js`: every directory above the checkout must let it pass.
 * (A checkout in a `mktemp -d` folder is closed to others.) Only the search bit is added.
 */
export function makeReachable(path = PROJECT): void {
  if (process.getuid?.() !== 0) return;
  for (let dir = path; dir !== dirname(dir); dir = dirname(dir)) {
    const mode = statSync(dir).mode;
    if ((mode & 0o001) === 0) chmodSync(dir, mode | 0o001);
  }
}

/** The environment a cluster's archive/restore commands need: the secrets the config names, nothing else. */
export function secretsEnvironment(): Record<string, string> {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith('PGWARDEN_TEST_')) as Array<[string, string]>);
}

export interface ArchivingCluster {
  pg: TestCluster;
  name: string; // the database (cluster) name in pgwarden.yaml
  configFile: string;
  input: ConfigInput;
  config: Config;
  archiveCommand: string;
}

export async function startArchivingCluster(
  stack: Stack,
  name: string,
  options: { repository?: string; async?: boolean; extraConf?: string[]; pitr?: DatabaseRef['pitr']; env?: Record<string, string>; overrides?: Partial<ConfigInput> } = {},
): Promise<ArchivingCluster> {
  makeReachable();
  const dir = mkdtempSync(join(tmpdir(), 'pgwarden-test-archiving-'));
  chmodSync(dir, 0o755);
  const configFile = join(dir, 'pgwarden.yaml');
  const archiveCommand = `${process.execPath} ${CLI} --config ${configFile} wal-push --db ${name}${options.async === false ? '' : ' --async'} %p`;
  const pg = await startCluster(
    ['wal_level = replica', 'archive_mode = on', `archive_command = '${archiveCommand}'`, 'max_wal_senders = 4', ...(options.extraConf ?? [])],
    { ...secretsEnvironment(), ...options.env },
  );
  const repository = options.repository ?? 's3';
  const input = stack.configInput({
    [name]: { db: 'postgres', url: pg.url('postgres'), repositories: [repository], pitr: { repository, runAs: 'pgwarden', ...options.pitr } },
  }, options.overrides);
  writeFileSync(configFile, stringify(input), { mode: 0o644 });
  return { pg, name, configFile, input, config: testConfig(input), archiveCommand };
}
