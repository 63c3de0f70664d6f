// pgwarden config check: everything a backup will need, checked before 02:00 rather than at it.
import { openRepository } from '../../activities/storage/open.js';
import { pgTool } from '../../activities/postgres/binaries.js';
import { withClient } from '../../activities/postgres/connection.js';
import { neonRestoreWindow } from '../../activities/providers/neon/pitr-branch.js';
import { dumpEndpoint, neonServerMajor, restoreTarget } from '../../activities/providers/source.js';
import { serverInfo } from '../../activities/postgres/inventory.js';
import { formatDuration } from '../../domain/format.js';
import { PgwardenError, type FailureKind } from '../../domain/errors.js';
import { databaseView, type DatabaseView } from '../../config/load.js';
import { loadKeyring } from '../../activities/keys/keyring.js';
import { S3Repository } from '../../activities/storage/s3.js';
import type { CommandContext } from '../context.js';
import { channelChecks } from './config-check-channels.js';

interface Check {
  what: string;
  ok: boolean;
  detail: string;
  /** Why it failed (decides the exit code). */
  kind?: FailureKind;
}

export async function configCheckCommand(ctx: CommandContext, options: { sendTest?: boolean } = {}): Promise<void> {
  const config = ctx.config; // invalid files fail here with every problem listed
  const checks: Check[] = [];
  const attempt = async (what: string, run: () => Promise<string>) => {
    try {
      checks.push({ what, ok: true, detail: await run() });
    } catch (error) {
      checks.push({ what, ok: false, detail: (error as Error).message, kind: error instanceof PgwardenError ? error.kind : 'Config' });
    }
  };
  await attempt('encryption keys', async () => {
    const keyring = await loadKeyring(config);
    const wraps = [...(keyring.passphrase ? [`the passphrase (${keyring.passphrase.source})`] : []), ...keyring.recipients.map((k) => `key ${k.fingerprint}${k.userId ? ` (${k.userId})` : ''}`)];
    const opens = keyring.openers.length === 0 ? 'none: this worker backs up but cannot restore (no passphrase, no private key)' : `${keyring.openers.length} key(s)${keyring.openers.some((o) => o.previous) ? `, ${keyring.openers.filter((o) => o.previous).length} of them previous` : ''}`;
    return `new data keys wrapped for ${wraps.join(' and ')}; opening: ${opens}`;
  });
  for (const name of Object.keys(config.repositories)) {
    await attempt(`repository ${name}`, async () => {
      const repo = openRepository(config, name);
      await repo.check();
      const lock = repo instanceof S3Repository && (await repo.objectLockEnabled()) ? '; S3 Object Lock enabled: objects are locked until their retention ends' : '';
      return `${repo.location}${lock}`;
    });
  }
  for (const name of Object.keys(config.databases)) {
    const db = databaseView(config, name);
    await attempt(`database ${name}`, async () => {
      if (db.settings.provider === 'neon') {
        // Neon: the API key, project and parent branch; backups read branches made from it.
        const window = await neonRestoreWindow(config, name);
        const pgDump = await pgTool('pg_dump', await neonServerMajor(config, name), config.postgres.binDir);
        return `Neon project ${window.projectId}, parent branch ${window.parentBranch.name}, history ${formatDuration(window.historyRetentionSeconds * 1_000)}; pg_dump ${pgDump}; to ${db.repositories.join(', ')}`;
      }
      const endpoint = await dumpEndpoint(config, name);
      const server = await withClient(endpoint, 'config check', serverInfo);
      const pgDump = await pgTool('pg_dump', server.major, config.postgres.binDir);
      const targets = `RTO ${db.rtoMs ? formatDuration(db.rtoMs) : 'none'}, RPO ${db.rpoMs ? formatDuration(db.rpoMs) : 'none'}`;
      return `PostgreSQL ${server.version} at ${endpoint.display}; ${db.settings.environment} (${targets}); pg_dump ${pgDump}; to ${db.repositories.join(', ')}${kindRepositories(db)}`;
    });
    // Restores go to restoreConnection, or to the source server when it is not set: either must take a new database.
    await attempt(`restores of ${name}`, async () => {
      const where = db.settings.restoreConnection ? 'restoreConnection' : 'the source server (restoreConnection is not set)';
      const endpoint = await restoreTarget(config, name);
      return withClient(endpoint, 'config check', async (client) => {
        const server = await serverInfo(client);
        const pgRestore = await pgTool('pg_restore', server.major, config.postgres.binDir);
        const { rows } = await client.query<{ may: boolean; who: string }>(
          'SELECT (rolcreatedb OR rolsuper) AS may, rolname AS who FROM pg_roles WHERE rolname = current_user',
        );
        if (!rows[0]?.may) {
          throw new PgwardenError(
            'Config',
            `user "${rows[0]?.who}" on ${endpoint.display} (${where}) may not create databases, so restores would fail: grant it CREATEDB, ` +
              `or set databases.${name}.restoreConnection to a user that may`,
          );
        }
        return `into ${where}: PostgreSQL ${server.version} at ${endpoint.display}, user "${rows[0].who}" may create databases; pg_restore ${pgRestore}`;
      });
    });
  }
  // An alert that cannot be sent is found here, not in a worker log on the night it mattered.
  for (const [what, run] of channelChecks(config, options.sendTest === true)) await attempt(what, run);
  const failed = checks.filter((c) => !c.ok);
  const listing = checks.map((c) => `  ${c.ok ? 'ok  ' : 'FAIL'} ${c.what}: ${c.detail}`);
  if (failed.length > 0) {
    // One kind of failure gives its own exit code (7: a server or repository is unreachable); mixed ones are 3.
    const kinds = new Set(failed.map((c) => c.kind ?? 'Config'));
    const kind = kinds.size === 1 ? [...kinds][0]! : 'Config';
    throw new PgwardenError(kind, `${ctx.configFile}: ${failed.length} check(s) failed:\n${listing.join('\n')}`);
  }
  ctx.out.result({ configFile: ctx.configFile, checks }, () => [`${ctx.configFile}: valid, everything reachable`, ...listing].join('\n'));
}

/** "; pre-migration to b2, aws" for the kinds that go elsewhere than the database's repositories. */
function kindRepositories(db: DatabaseView): string {
  return Object.entries(db.settings.kinds ?? {})
    .filter(([, settings]) => settings?.repositories)
    .map(([kind, settings]) => `; ${kind} to ${settings!.repositories!.join(', ')}`)
    .join('');
}
