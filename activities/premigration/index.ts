// Activities of the pre-migration workflow: find this migration's earlier backup, see who holds the database's
// backup lock and wait for it to end, and read every stored copy back to verify it.
import { Context } from '@temporalio/activity';
import { CompleteAsyncError } from '@temporalio/common';
import { PgwardenError } from '../../domain/errors.js';
import type { Config } from '../../config/schema.js';
import { backupWorkflowId, SEARCH_ATTRIBUTES } from '../../domain/ids.js';
import { preMigrationBackupsIn } from '../catalog/locate.js';
import { backupFolder, readManifest, type BackupManifest } from '../catalog/manifest.js';
import { currentReporter, reportEvery } from '../progress.js';
import { verifyObject } from '../storage/copy.js';
import { openRepository } from '../storage/open.js';
import { describeRun } from '../workflow-runs.js';
import { resolveDatabase } from '../database-context.js';
import { watchLockHolder, type LockHolder } from './lock-holder.js';

export type { LockHolder } from './lock-holder.js';

export interface EarlierPreMigrationBackup {
  backupId: string;
  /** Repositories of the kind that hold it complete; the first is where copies come from. */
  holding: string[];
  /** Repositories of the kind that do not (yet): an earlier run failed copying there, or the config grew one. */
  missing: string[];
  storedBytes: number;
  tables: number;
  rows: number;
  startedAt: string;
  finishedAt: string;
}

export function preMigrationActivities(config: Config) {
  return {
    /** The newest complete backup taken for this migration, in any repository of the kind (a CI retry's answer). */
    async findPreMigrationBackup(input: { database: string; migrationId: string }): Promise<EarlierPreMigrationBackup | null> {
      const repositories = resolveDatabase(config, input.database).view.repositoriesFor('pre-migration');
      const found = new Map<string, { manifest: BackupManifest; holding: string[] }>();
      for (const repository of repositories) {
        for (const manifest of await preMigrationBackupsIn(config, repository, input.database, input.migrationId)) {
          const known = found.get(manifest.id);
          if (known) known.holding.push(repository);
          else found.set(manifest.id, { manifest, holding: [repository] });
        }
      }
      const newest = [...found.values()].sort((a, b) => a.manifest.finishedAt.localeCompare(b.manifest.finishedAt)).at(-1);
      if (!newest) return null;
      const counts = Object.values(newest.manifest.tables);
      return {
        backupId: newest.manifest.id,
        holding: newest.holding,
        missing: repositories.filter((r) => !newest.holding.includes(r)),
        storedBytes: newest.manifest.storedBytes,
        tables: counts.length,
        rows: counts.reduce((sum, n) => sum + n, 0),
        startedAt: newest.manifest.startedAt,
        finishedAt: newest.manifest.finishedAt,
      };
    },

    /** Who holds the database's backup lock right now, or null when nobody does. */
    async describeBackupLock(input: { database: string }): Promise<LockHolder | null> {
      const description = await describeRun(Context.current().client, backupWorkflowId(input.database));
      if (description?.status.name !== 'RUNNING') return null;
      const kind = description.typedSearchAttributes.get(SEARCH_ATTRIBUTES.kind);
      const parent = description.parentExecution?.workflowId;
      const what =
        `the ${kind ?? 'running'} backup of ${input.database} (workflow ${description.workflowId}, running since ${description.startTime.toISOString()}` +
        `${parent ? `, started by ${parent}` : ''})`;
      return { workflowId: description.workflowId, runId: description.runId, what, startedAt: description.startTime.toISOString() };
    },

    /**
     * Waits until that run of the lock holder has ended (however it ended), or the deadline passed. Completed
     * asynchronously by a watcher in this process, so a long wait holds none of the worker's activity slots
     * (waiters must never crowd out the backup they wait for); if the worker dies, the watcher's heartbeats stop
     * and Temporal retries the wait elsewhere.
     */
    async waitForLockHolder(input: { holder: LockHolder; deadlineMs: number }): Promise<{ ended: boolean; waitedMs: number }> {
      void watchLockHolder(Context.current().client, Context.current().info.taskToken, input);
      throw new CompleteAsyncError();
    },

    /** Reads every object of the backup back from `repository` and checks size and sha256 against its manifest. */
    async verifyBackupCopy(input: { database: string; backupId: string; repository: string }): Promise<{ objects: number; bytes: number }> {
      const repo = openRepository(config, input.repository);
      const folder = backupFolder(input.database, 'logical', input.backupId);
      const manifest = await readManifest(repo, folder);
      if (!manifest) throw new PgwardenError('NotFound', `Backup ${input.backupId} has no manifest in repository "${input.repository}" (${repo.location}): it is not complete there.`);
      const reporter = currentReporter();
      let bytes = 0;
      const stop = reportEvery(reporter, () => ({ phase: `verifying in ${input.repository}`, bytesDone: bytes, bytesTotal: manifest.storedBytes }));
      try {
        for (const object of manifest.objects) {
          await verifyObject(repo, { key: `${folder}${object.name}`, sha256: object.sha256, storedBytes: object.storedBytes }, reporter.signal);
          bytes += object.storedBytes;
        }
      } finally {
        stop();
      }
      return { objects: manifest.objects.length, bytes };
    },
  };
}
