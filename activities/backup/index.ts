// Activities of the logical backup workflow: check, dump (the long one, in dump.ts), copy to more repositories,
// clean up.
import { PgwardenError } from '../../domain/errors.js';
import type { Config } from '../../config/schema.js';
import type { BackupKind } from '../../domain/kinds.js';
import type { DiscardInput } from '../../domain/backup.js';
import { discardIncomplete } from '../catalog/discard.js';
import { backupFolder, CHECKSUMS_FILE, checksumsFile, readManifest, writeManifest } from '../catalog/manifest.js';
import { resolveDatabase } from '../database-context.js';
import { pgTool } from '../postgres/binaries.js';
import { withClient } from '../postgres/connection.js';
import { serverInfo } from '../postgres/inventory.js';
import { neonServerMajor } from '../providers/source.js';
import { currentReporter, reportEvery } from '../progress.js';
import { openRepository } from '../storage/open.js';
import { copyObject } from '../storage/copy.js';
import { logicalRetainUntil } from '../storage/lock.js';
import { dumpLogical } from './dump.js';
import type { DumpLogicalInput, DumpLogicalOutput, PreparedBackup } from './inputs.js';

export * from './inputs.js';

export function backupActivities(config: Config) {
  return {
    /** Fails fast, before anything is written, on what a person must fix: config, secrets, server, repositories. */
    async prepareBackup(input: { database: string; kind?: BackupKind }): Promise<PreparedBackup> {
      const db = resolveDatabase(config, input.database);
      const repositories = db.view.repositoriesFor(input.kind ?? 'manual');
      await db.keyring(); // every key the configuration names is there and is a key
      const provider = db.settings.provider;
      let server: { version: string; major: number };
      if (provider === 'neon') {
        // The API key, project and parent branch are checked here; the data is read from a branch made next.
        const major = await neonServerMajor(config, input.database);
        server = { version: `${major} (Neon)`, major };
      } else {
        server = await withClient(await db.dumpSource(), 'backup check', (client) => serverInfo(client));
      }
      await pgTool('pg_dump', server.major, config.postgres.binDir);
      for (const name of repositories) await db.repository(name).check();
      return { repositories, serverVersion: server.version, provider };
    },

    async dumpLogical(input: DumpLogicalInput): Promise<DumpLogicalOutput> {
      return dumpLogical(resolveDatabase(config, input.database), input);
    },

    /** Copies a finished backup into another repository, verifying every object; the manifest goes last. */
    async replicateBackup(input: { database: string; backupId: string; from: string; to: string }): Promise<void> {
      const from = openRepository(config, input.from);
      const to = openRepository(config, input.to);
      const folder = backupFolder(input.database, 'logical', input.backupId);
      const manifest = await readManifest(from, folder);
      if (!manifest) throw new PgwardenError('NotFound', `Backup ${input.backupId} has no manifest in repository "${input.from}": nothing to copy.`);
      if (await readManifest(to, folder)) return; // copied by an earlier attempt
      await to.abortIncompleteWrites(folder);
      const retainUntil = logicalRetainUntil(config, manifest.kind, Date.parse(manifest.startedAt));
      // The wrapped data key goes first: an object never exists without the key that opens it.
      if (manifest.encryption.scheme === 'openpgp-envelope-v1') {
        const key = `${folder}${manifest.encryption.dataKey}`;
        const wrapped = await from.getBytesWithMetadata(key);
        if (!wrapped) throw new PgwardenError('NotFound', `Backup ${input.backupId} has no ${manifest.encryption.dataKey} in repository "${input.from}": nothing to copy that could be opened.`);
        await to.putBytes(key, wrapped.data, { metadata: wrapped.metadata, retainUntil });
      }
      const reporter = currentReporter();
      let done = 0;
      const stop = reportEvery(reporter, () => ({ phase: `copying to ${input.to}`, bytesDone: done, bytesTotal: manifest.storedBytes }));
      try {
        for (const object of manifest.objects) {
          await copyObject(from, to, { key: `${folder}${object.name}`, sha256: object.sha256, storedBytes: object.storedBytes }, reporter.signal, { retainUntil });
          done += object.storedBytes;
        }
        await to.putBytes(`${folder}${CHECKSUMS_FILE}`, checksumsFile(manifest.objects), { retainUntil });
        await writeManifest(to, folder, manifest, { retainUntil });
      } finally {
        stop();
      }
    },

    /** After a failed backup: removes its objects (unless a manifest made it complete, by another run than the failed one) and unfinished uploads. */
    async discardIncompleteBackup(input: DiscardInput): Promise<{ removed: number }> {
      let removed = 0;
      const folder = backupFolder(input.database, input.type ?? 'logical', input.backupId);
      for (const name of input.repositories) removed += await discardIncomplete(openRepository(config, name), folder, input.writtenBy);
      return { removed };
    },
  };
}
