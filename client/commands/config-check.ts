// pgwarden config check: everything a backup will need, checked before 02:00 rather than at it.
import { openRepository } from '../../activities/storage/open.js';
import { pgTool } from '../../activities/postgres/binaries.js';
import { sourceEndpoint, withClient } from '../../activities/postgres/connection.js';
import { serverInfo } from '../../activities/postgres/inventory.js';
import { formatDuration } from '../../config/duration.js';
import { PgwardenError } from '../../config/errors.js';
import { databaseView, type DatabaseView } from '../../config/load.js';
import { resolvePassphrase } from '../../config/secrets.js';
import type { CommandContext } from '../context.js';

interface Check {
  what: string;
  ok: boolean;
  detail: string;
}

export async function configCheckCommand(ctx: CommandContext): Promise<void> {
  const config = ctx.config; // invalid files fail here with every problem listed
  const checks: Check[] = [];
  const attempt = async (what: string, run: () => Promise<string>) => {
    try {
      checks.push({ what, ok: true, detail: await run() });
    } catch (error) {
      checks.push({ what, ok: false, detail: (error as Error).message });
    }
  };
  await attempt('encryption passphrase', async () => {
    resolvePassphrase(config);
    return 'set';
  });
  for (const name of Object.keys(config.repositories)) {
    await attempt(`repository ${name}`, async () => {
      const repo = openRepository(config, name);
      await repo.check();
      return repo.location;
    });
  }
  for (const name of Object.keys(config.databases)) {
    const db = databaseView(config, name);
    await attempt(`database ${name}`, async () => {
      const endpoint = sourceEndpoint(config, name);
      const server = await withClient(endpoint, 'config check', serverInfo);
      const pgDump = await pgTool('pg_dump', server.major, config.postgres.binDir);
      const targets = `RTO ${db.rtoMs ? formatDuration(db.rtoMs) : 'none'}, RPO ${db.rpoMs ? formatDuration(db.rpoMs) : 'none'}`;
      return `PostgreSQL ${server.version} at ${endpoint.display}; ${db.settings.environment} (${targets}); pg_dump ${pgDump}; to ${db.repositories.join(', ')}${kindRepositories(db)}`;
    });
  }
  const failed = checks.filter((c) => !c.ok);
  const listing = checks.map((c) => `  ${c.ok ? 'ok  ' : 'FAIL'} ${c.what}: ${c.detail}`);
  if (failed.length > 0) {
    throw new PgwardenError('Config', `${ctx.configFile}: ${failed.length} check(s) failed:\n${listing.join('\n')}`);
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
