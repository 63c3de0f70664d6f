// Which Neon branches are pgwarden's, and whose: decided by the annotations pgwarden writes on every branch it makes
// (database, purpose, workflow and run), never by a name prefix (databases "shop" and "shop-eu" share "pgwarden-shop-").
// Listing, deleting on request, and the retention sweep of backup branches left behind live here.
import { Context } from '@temporalio/activity';
import { PgwardenError } from '../../../domain/errors.js';
import { databaseView } from '../../../config/load.js';
import type { Config, NeonSettings } from '../../../config/schema.js';
import { activityContext } from '../../progress.js';
import { neonApi, neonSettings, type BranchWithAnnotations, type NeonApi, type NeonBranch, type PgwardenAnnotations } from './api.js';

/** Every branch pgwarden makes is named so (and annotated): the listing asks the server for these only. */
const NAME_PREFIX = 'pgwarden-';

export interface NeonBranchSweep {
  deleted: Array<{ id: string; name: string; createdAt: string; reason: string }>;
  kept: Array<{ id: string; name: string; reason: string }>;
}

/** Whether pgwarden made this branch for `database` (and, when `purpose` is given, for that purpose). */
export function madeFor(item: BranchWithAnnotations, database: string, purpose?: PgwardenAnnotations['pgwarden-purpose']): boolean {
  if (item.branch.default) return false;
  const a = item.annotations;
  return a['pgwarden-database'] === database && (purpose === undefined ? a['pgwarden-purpose'] === 'backup' || a['pgwarden-purpose'] === 'pitr' : a['pgwarden-purpose'] === purpose);
}

/** Whether `item` is the branch this run asked for (same database, purpose and run): a lost answer found again. */
export function madeByRun(item: BranchWithAnnotations, wanted: PgwardenAnnotations): boolean {
  return madeFor(item, wanted['pgwarden-database'], wanted['pgwarden-purpose']) && item.annotations['pgwarden-run-id'] === wanted['pgwarden-run-id'];
}

/** The branches pgwarden made for `database`, with what they are for. */
async function branchesOf(api: NeonApi, database: string): Promise<Array<BranchWithAnnotations & { purpose: 'backup' | 'pitr' }>> {
  return (await api.branches(NAME_PREFIX))
    .filter((item) => madeFor(item, database))
    .map((item) => ({ ...item, purpose: item.annotations['pgwarden-purpose'] as 'backup' | 'pitr' }));
}

/** A branch by name, with its annotations (names are unique within a project). */
export async function findByName(api: NeonApi, name: string): Promise<BranchWithAnnotations | undefined> {
  return (await api.branches(name)).find((b) => b.branch.name === name);
}

/** The branches pgwarden made for `database` (backups left behind, point-in-time restores), for `branches list`. */
export async function listPgwardenBranches(config: Config, database: string): Promise<Array<BranchWithAnnotations & { purpose: string }>> {
  const found = await branchesOf(neonApi(config, database), database);
  return found.sort((a, b) => a.branch.created_at.localeCompare(b.branch.created_at));
}

/** `pgwarden branches delete`: only branches pgwarden made for this database. */
export async function deletePgwardenBranch(config: Config, database: string, idOrName: string): Promise<NeonBranch> {
  const mine = await listPgwardenBranches(config, database);
  const found = mine.find((b) => b.branch.id === idOrName || b.branch.name === idOrName);
  if (!found) {
    throw new PgwardenError(
      'NotFound',
      `No branch "${idOrName}" that pgwarden made for "${database}"${mine.length ? ` (there are: ${mine.map((b) => b.branch.name).join(', ')})` : ''}. pgwarden deletes only its own branches.`,
    );
  }
  await neonApi(config, database).deleteBranch(found.branch.id);
  return found.branch;
}

/**
 * Refuses to delete what pgwarden did not make for `database`, and, when `runId` is known, what another run made:
 * a clean-up never removes a branch a user was told to keep.
 */
export function assertDeletable(item: BranchWithAnnotations, database: string, runId: string | undefined): void {
  const { branch, annotations } = item;
  if (!madeFor(item, database)) {
    throw new PgwardenError('Refused', `Refusing to delete Neon branch ${branch.id} ("${branch.name}"): pgwarden deletes only the branches it made for "${database}".`);
  }
  if (runId !== undefined && annotations['pgwarden-run-id'] !== runId) {
    throw new PgwardenError('Refused', `Refusing to delete Neon branch ${branch.id} ("${branch.name}"): run ${annotations['pgwarden-run-id'] ?? '(unknown)'} made it, not run ${runId}.`);
  }
}

/** The run id of the workflow that called the running activity (undefined outside Temporal). */
export function callingRunId(): string | undefined {
  return activityContext()?.info.workflowExecution?.runId;
}

/**
 * Retention for branches: deletes backup branches whose backup is no longer running (a worker that died, a
 * workflow terminated before its clean-up). Point-in-time branches are the user's and stay.
 */
export async function sweepNeonBranches(config: Config, input: { database: string; dryRun?: boolean }): Promise<NeonBranchSweep> {
  const result: NeonBranchSweep = { deleted: [], kept: [] };
  if (databaseView(config, input.database).settings.provider !== 'neon') return result;
  const settings = neonSettings(config, input.database);
  const api = neonApi(config, input.database);
  for (const { branch, annotations, purpose } of await branchesOf(api, input.database)) {
    if (purpose !== 'backup') continue;
    const reason = await leftoverReason(branch, annotations, settings);
    if (!reason.leftover) {
      result.kept.push({ id: branch.id, name: branch.name, reason: reason.why });
      continue;
    }
    if (!input.dryRun) await api.deleteBranch(branch.id);
    result.deleted.push({ id: branch.id, name: branch.name, createdAt: branch.created_at, reason: reason.why });
  }
  return result;
}

/** Whether a backup branch was left behind: its backup run is over (asked of Temporal), else it is older than its expiry. */
async function leftoverReason(branch: NeonBranch, annotations: Record<string, string>, settings: NeonSettings): Promise<{ leftover: boolean; why: string }> {
  const workflowId = annotations['pgwarden-workflow-id'];
  const runId = annotations['pgwarden-run-id'];
  if (workflowId && runId) {
    let client;
    try {
      client = Context.current().client;
    } catch {
      client = undefined;
    }
    if (client) {
      try {
        const described = await client.workflow.getHandle(workflowId, runId).describe();
        const status = described.status.name;
        if (status === 'RUNNING') return { leftover: false, why: `its backup ${workflowId} is still running` };
        return { leftover: true, why: `its backup run ${runId} ended (${status}) without deleting it` };
      } catch (error) {
        if ((error as Error).name === 'WorkflowNotFoundError') return { leftover: true, why: `its backup run ${runId} no longer exists in Temporal` };
        throw new PgwardenError('Unavailable', `Could not ask Temporal about backup run ${runId}: ${(error as Error).message}`, { cause: error });
      }
    }
  }
  const maxAge = settings.branchExpiry === false ? 24 * 3_600_000 : settings.branchExpiry;
  const age = Date.now() - Date.parse(branch.created_at);
  if (age > maxAge) return { leftover: true, why: `made ${Math.round(age / 3_600_000)} h ago, longer than any backup runs` };
  return { leftover: false, why: 'recent, and its backup run is unknown' };
}
