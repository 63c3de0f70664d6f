// Step 3 of a point-in-time restore: the recovery settings of the restored cluster. A pgwarden.yaml of its own (the
// archive only, secrets by reference), restore_command, the target and the timeline to follow, where it listens,
// and whether it archives: by default not at all, when asked under its own name, into the source's archive only
// when that is asked for by name.
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { databaseView } from '../../config/load.js';
import type { Config } from '../../config/schema.js';
import { walRepositoryName } from '../wal/open.js';
import { describeTarget, type RecoveryTarget } from '../wal/target.js';
import { archiveCommand, checkName, checkPath, confString, restoreCommand } from './commands.js';
import { auxDirectory, recoveryLog, restoredCluster, stageDirectory } from './datadir.js';

export interface ConfigureRecoveryInput {
  database: string;
  datadir: string;
  port: number;
  runAs?: string;
  serverMajor: number;
  settings: Record<string, string>;
  target: RecoveryTarget;
  /** recovery_target_timeline: the plan's choice, never 'latest'. */
  timeline: number;
  /** The archive the copy writes its WAL into (a database name in the repository); none: it does not archive. */
  archiveAs?: string;
}

export async function configureRecovery(config: Config, input: ConfigureRecoveryInput): Promise<void> {
  checkPath(input.datadir, 'The data directory');
  const cluster = await restoredCluster(config, input);
  const aux = auxDirectory(input.datadir);
  mkdirSync(aux, { recursive: true, mode: 0o700 });
  const configFile = join(aux, 'restore.yaml');
  writeFileSync(configFile, restoreConfig(config, input.database, input.archiveAs), { mode: 0o600 });
  rmSync(join(input.datadir, 'postmaster.pid'), { force: true });
  rmSync(join(input.datadir, 'standby.signal'), { force: true });
  rmSync(recoveryLog(input.datadir), { force: true });

  if (!existsSync(join(input.datadir, 'postgresql.conf'))) {
    // Debian-style clusters keep their configuration outside the data directory: give the copy a minimal one.
    writeFileSync(join(input.datadir, 'postgresql.conf'), '# written by pgwarden for a restored cluster\n');
    writeFileSync(join(input.datadir, 'pg_hba.conf'), 'local all all peer\nhost all all 127.0.0.1/32 scram-sha-256\nhost all all ::1/128 scram-sha-256\n');
  }
  // A spool of its own, inside the data directory: staged and prefetched segments land on pg_wal's file system
  // (a rename away from use) and go when the restored cluster goes.
  const spool = stageDirectory(input.datadir);
  mkdirSync(spool, { recursive: true, mode: 0o700 });
  const lines = [
    '',
    `# pgwarden point-in-time restore (${new Date().toISOString()}): ${describeTarget(input.target)}`,
    `port = ${input.port}`,
    `listen_addresses = 'localhost'`,
    `log_timezone = 'UTC'`,
    `unix_socket_directories = '/tmp'`,
    `restore_command = ${confString(restoreCommand({ configFile, database: input.database, spool }))}`,
    `recovery_target_timeline = '${input.timeline}'`,
    `recovery_target_action = 'promote'`,
    ...Object.entries(input.settings).map(([key, value]) => `${key} = ${confString(value)}`),
    ...(input.archiveAs
      ? [`archive_mode = on`, `archive_command = ${confString(archiveCommand({ configFile, archiveAs: input.archiveAs, spool }))}`]
      : [`archive_mode = off  # a restored copy does not write into an archive unless asked (--archive)`]),
  ];
  // Appended to the base backup's own postgresql.auto.conf, kept aside so that a retry writes the same file again.
  const auto = join(input.datadir, 'postgresql.auto.conf');
  const original = join(aux, 'postgresql.auto.conf.base');
  if (!existsSync(original)) writeFileSync(original, existsSync(auto) ? readFileSync(auto) : '');
  // A base backup of a copy restored before pgwarden settled copies as primaries still holds that restore's
  // target: a second kind of target beside this one stops PostgreSQL ("multiple recovery targets specified").
  writeFileSync(auto, `${withoutRecoverySettings(readFileSync(original, 'utf8'))}${lines.join('\n')}\n`, { mode: 0o600 });
  writeFileSync(join(input.datadir, 'recovery.signal'), '');
  cluster.own(input.datadir);
}

/** A pgwarden.yaml for the restored cluster's commands: the archive only, secrets still by reference. */
function restoreConfig(config: Config, database: string, archiveAs: string | undefined): string {
  const repository = walRepositoryName(config, database);
  const db = databaseView(config, database);
  const entry = { connection: db.settings.connection, repositories: [repository], pitr: { repository } };
  return stringify({
    encryption: config.encryption,
    backup: { compressionLevel: config.backup.compressionLevel },
    repositories: { [repository]: config.repositories[repository] },
    databases: { [database]: entry, ...(archiveAs ? { [checkName(archiveAs, 'The archive name')]: entry } : {}) },
  });
}

/** Settings only recovery reads: a primary keeps none of them, and a base backup of it must not carry them. */
const RECOVERY_ONLY = /^\s*(restore_command|recovery_target\w*)\s*=/;

/** postgresql.auto.conf without the recovery settings (what ALTER SYSTEM and the rest of the file set stays). */
export function withoutRecoverySettings(text: string): string {
  return text
    .split('\n')
    .filter((line) => !RECOVERY_ONLY.test(line))
    .join('\n');
}

/**
 * Once the restored cluster has promoted, its configuration becomes a primary's: the recovery settings go from
 * postgresql.auto.conf (replaced whole, by a rename), so that a restart or a base backup of the copy never recovers
 * to this restore's target again. The running server read them at its start and needs them no more.
 */
export function settleAsPrimary(datadir: string, own: (path: string) => void): void {
  const auto = join(datadir, 'postgresql.auto.conf');
  if (!existsSync(auto)) return;
  const text = readFileSync(auto, 'utf8');
  const settled = withoutRecoverySettings(text);
  if (settled === text) return;
  const next = `${auto}.pgwarden-tmp`;
  writeFileSync(next, `${settled.trimEnd()}\n# recovery ended (${new Date().toISOString()}): its settings were removed by pgwarden\n`, { mode: 0o600 });
  own(next);
  renameSync(next, auto);
}
