// Activities of the base backup workflow: a physical copy of the cluster (pg_basebackup, tar) streamed into the
// WAL archive's repository like logical backups, complete only once the WAL it needs is archived.
import { PgwardenError } from '../../domain/errors.js';
import type { Config } from '../../config/schema.js';
import { resolveDatabase } from '../database-context.js';
import { pgTool } from '../postgres/binaries.js';
import { withClient } from '../postgres/connection.js';
import { serverInfo } from '../postgres/inventory.js';
import { readArchiveIdentity } from '../wal/archive.js';
import { takeBaseBackup, type BaseBackupOutput, type TakeBaseBackupInput } from './take.js';

export { BASE_FORMAT, BASE_OBJECT, type BaseBackupOutput, type TakeBaseBackupInput } from './take.js';

export function baseBackupActivities(config: Config) {
  return {
    /** What must be true before a base backup is worth starting: the archive is set up and belongs to this cluster. */
    async prepareBaseBackup(input: { database: string }): Promise<{ repository: string; serverVersion: string }> {
      const db = resolveDatabase(config, input.database);
      await db.keyring();
      const { repo } = db.archive();
      await repo.check();
      const endpoint = db.source();
      const { server, archiveMode } = await withClient(endpoint, 'base backup check', async (client) => ({
        server: await serverInfo(client),
        archiveMode: (await client.query<{ archive_mode: string }>('SHOW archive_mode')).rows[0]!.archive_mode,
      }));
      if (archiveMode === 'off') {
        throw new PgwardenError(
          'Config',
          `archive_mode is off on ${endpoint.display}: a base backup is useless without its WAL. Set archive_mode = on and ` +
            `archive_command = 'pgwarden --config /etc/pgwarden/pgwarden.yaml wal-push --db ${input.database} --async %p', then restart PostgreSQL.`,
        );
      }
      const identity = await readArchiveIdentity(repo, input.database);
      if (identity && identity.systemIdentifier !== server.systemIdentifier) {
        throw new PgwardenError(
          'Refused',
          `The WAL archive of "${input.database}" in repository "${repo.name}" belongs to cluster ${identity.systemIdentifier}, but ${endpoint.display} is cluster ${server.systemIdentifier}: ` +
            'a base backup of it could never be recovered with that archive. Check the connection of this database, or give the cluster its own entry.',
        );
      }
      await pgTool('pg_basebackup', server.major, config.postgres.binDir);
      return { repository: repo.name, serverVersion: server.version };
    },

    async takeBaseBackup(input: TakeBaseBackupInput): Promise<BaseBackupOutput> {
      return takeBaseBackup(resolveDatabase(config, input.database), input);
    },
  };
}
