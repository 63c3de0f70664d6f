// Activities that hold backups against retention while they are read: a restore, drill or PITR writes a lease
// (the stored record, activities/catalog/leases.ts) on what it reads and removes it when done.
// In a workflow:   const hold = await quick.holdBackups({ database, backups: [{ type: 'base', id }], purpose: 'PITR' });
//                  try { … } finally { await CancellationScope.nonCancellable(() => quick.releaseBackups(hold)); }
import { randomUUID } from 'node:crypto';
import { PgwardenError } from '../../domain/errors.js';
import type { Config } from '../../config/schema.js';
import { backupFolder, MANIFEST_FILE } from '../catalog/manifest.js';
import { LOCAL_LEASE_MS, leaseName, localHolder, removeLease, WORKFLOW_LEASE_MS, writeLease, type BackupRef, type Lease, type WorkflowHolder } from '../catalog/leases.js';
import { activityContext, warn } from '../progress.js';
import { resolveDatabase } from '../database-context.js';
import { openRepository } from '../storage/open.js';

export interface HoldInput {
  database: string;
  backups: BackupRef[];
  /** What reads them, in words: retention reports it as the reason it kept them ("restore into cartly_restored"). */
  purpose: string;
  /** Default: the database's first repository for logical backups, its WAL archive's for base backups. */
  repository?: string;
}

/** What releaseBackups needs: plain data, so it can pass through a workflow. */
export interface BackupHold {
  database: string;
  repository: string;
  lease: string;
}

/** Renewals of leases taken without Temporal, by lease name. */
const renewals = new Map<string, NodeJS.Timeout>();

export function leaseActivities(config: Config) {
  return {
    /**
     * Writes a lease on `backups`, then checks they still exist: retention deletes a manifest before it looks for
     * leases a second time, so either it sees this lease and keeps the backup, or this check finds it gone.
     */
    async holdBackups(input: HoldInput): Promise<BackupHold> {
      const db = resolveDatabase(config, input.database);
      const repository = input.repository ?? (input.backups.every((b) => b.type === 'base') ? db.walRepository : db.view.repositories[0]!);
      const repo = db.repository(repository);
      const run = workflowRun();
      const now = Date.now();
      const holder: Lease['holder'] = run ? { workflow: run } : localHolder(randomUUID());
      const name = `${leaseName(holder)}-${input.backups[0]?.id ?? 'none'}`;
      const lease: Lease = {
        leaseVersion: 1,
        holder,
        purpose: input.purpose,
        backups: input.backups,
        takenAt: new Date(now).toISOString(),
        expiresAt: new Date(now + (run ? WORKFLOW_LEASE_MS : LOCAL_LEASE_MS)).toISOString(),
      };
      try {
        await writeLease(repo, input.database, name, lease);
      } catch (error) {
        // Read-only credentials (an emergency restore with --local) must not stop a restore: it goes on unheld.
        if (!refusedWrite(error)) throw error;
        warn(`cannot write a lease in repository "${repository}" (${(error as Error).message}): retention is not told that this ${input.purpose} reads ${input.backups.map((b) => b.id).join(', ')}.`);
        return { database: input.database, repository, lease: '' };
      }
      for (const backup of input.backups) {
        if (await repo.head(`${backupFolder(input.database, backup.type, backup.id)}${MANIFEST_FILE}`)) continue;
        await removeLease(repo, input.database, name).catch(() => undefined);
        throw new PgwardenError(
          'NotFound',
          `${backup.type === 'base' ? 'Base backup' : 'Backup'} ${backup.id} of "${input.database}" is no longer in repository "${repository}" (retention removed it as the ${input.purpose} began): nothing was read. ` +
            `Choose another one (\`pgwarden backups list --db ${input.database}\`) and run it again.`,
        );
      }
      if (!run) {
        // No Temporal to ask whether this process still runs: keep the lease fresh while it does.
        const timer = setInterval(() => {
          const renewed = { ...lease, expiresAt: new Date(Date.now() + LOCAL_LEASE_MS).toISOString() };
          writeLease(repo, input.database, name, renewed).catch(() => undefined);
        }, LOCAL_LEASE_MS / 5);
        timer.unref();
        renewals.set(name, timer);
      }
      return { database: input.database, repository, lease: name };
    },

    /** Ends a hold (idempotent). */
    async releaseBackups(hold: BackupHold): Promise<void> {
      if (!hold.lease) return; // nothing was held (see holdBackups)
      clearInterval(renewals.get(hold.lease));
      renewals.delete(hold.lease);
      await removeLease(openRepository(config, hold.repository), hold.database, hold.lease);
    },
  };
}

function refusedWrite(error: unknown): boolean {
  if (error instanceof PgwardenError) return error.kind === 'Config';
  return ['EACCES', 'EPERM', 'EROFS'].includes((error as NodeJS.ErrnoException).code ?? '');
}

/** The workflow run this activity works for, or undefined outside Temporal. */
function workflowRun(): WorkflowHolder | undefined {
  const context = activityContext();
  const execution = context?.info.workflowExecution;
  return context && execution ? { namespace: context.info.workflowNamespace ?? 'default', workflowId: execution.workflowId, runId: execution.runId } : undefined;
}
