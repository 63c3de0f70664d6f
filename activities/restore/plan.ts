// Planning a logical restore: every check a person must act on (names, key, server version, rights, an existing
// target, a restore already running) before anything is created.
import { PgwardenError } from '../../domain/errors.js';
import { locateBackup } from '../catalog/locate.js';
import { backupFolder } from '../catalog/manifest.js';
import type { DatabaseContext } from '../database-context.js';
import { objectSecretOf } from '../keys/backup-keys.js';
import { pgTool } from '../postgres/binaries.js';
import { serverInfo } from '../postgres/inventory.js';
import { checkDatabaseName, connectMaintenance, databaseExists } from '../postgres/load.js';
import { lockRestores } from '../postgres/restore-lock.js';
import { checkMayReplace } from '../postgres/swap.js';
import { planFreshProjectRestore } from '../providers/supabase-restore.js';
import type { PlanRestoreInput, RestorePlan } from './inputs.js';
import { restoreLockName, runTag, stagingName } from './names.js';

export async function planRestore(db: DatabaseContext, input: PlanRestoreInput): Promise<RestorePlan> {
  const config = db.config;
  // Named as both callers typed it: the workflow's JSON field (UI, scripts) and the CLI's flag.
  checkDatabaseName(input.target, '"target" (--into)');
  if (input.replaceExisting !== undefined && input.replaceExisting !== input.target) {
    throw new PgwardenError(
      'Usage',
      `"replaceExisting" (--replace-existing) must repeat the target database's name exactly ("${input.target}"), got "${input.replaceExisting}": nothing was changed.`,
    );
  }
  // In whichever repository holds it (kinds can go to different ones), unless the caller named one.
  const { manifest, repository, passedOver } = await locateBackup(config, input.database, input.backup, input.repository);
  const warnings = passedOver.map((d) => `Newer backup ${d.id} was passed over: ${d.reason}`);
  // The key first, before any server is asked: a wrong or missing key fails in seconds, with nothing created.
  await objectSecretOf(config, db.repository(repository), backupFolder(input.database, 'logical', manifest.id), manifest);
  // A Supabase backup goes into a fresh project's existing database, not into a new one.
  if (manifest.provider?.name === 'supabase') return planFreshProjectRestore(config, { ...input, repository, manifest });

  const endpoint = await db.restoreTarget(input.server);
  const client = await connectMaintenance(endpoint, 'restore check');
  try {
    const server = await serverInfo(client);
    const dumpMajor = Math.floor(manifest.server.versionNum / 10_000);
    if (server.major < dumpMajor) {
      throw new PgwardenError(
        'Refused',
        `Backup ${manifest.id} comes from PostgreSQL ${manifest.server.version} but ${endpoint.display} runs ${server.version}: restore into PostgreSQL ${dumpMajor} or newer.`,
      );
    }
    await pgTool('pg_restore', Math.max(server.major, dumpMajor), config.postgres.binDir);
    const { rows } = await client.query<{ may: boolean; who: string }>(
      'SELECT (rolcreatedb OR rolsuper) AS may, rolname AS who FROM pg_roles WHERE rolname = current_user',
    );
    if (!rows[0]?.may) {
      throw new PgwardenError('Config', `User "${rows[0]?.who}" on ${endpoint.display} may not create databases: grant CREATEDB, or restore with a user that may.`);
    }
    const targetExists = await databaseExists(client, input.target);
    if (targetExists && input.replaceExisting !== input.target) {
      throw new PgwardenError(
        'Refused',
        `Database "${input.target}" already exists on ${endpoint.display}: nothing was changed. Restore into a new name ("target": "${input.target}_restored", or --into ${input.target}_restored), ` +
          `or replace it: "replaceExisting": "${input.target}" (--replace-existing ${input.target}); the current one is kept under another name.`,
      );
    }
    if (targetExists) await checkMayReplace(client, input.target, endpoint.display);
    // Another restore of this database (through Temporal or --local) is running: refuse before anything is made.
    await (await lockRestores(endpoint, restoreLockName(input), runTag(input.runId))).release();
    return {
      backupId: manifest.id,
      repository,
      staging: stagingName(input.target, input.runId),
      targetExists,
      server: endpoint.display,
      tables: Object.keys(manifest.tables).length,
      storedBytes: manifest.storedBytes,
      ...(db.view.rtoMs !== undefined ? { rtoMs: db.view.rtoMs } : {}),
      ...(warnings.length ? { warnings } : {}),
    };
  } finally {
    await client.end().catch(() => undefined);
  }
}
