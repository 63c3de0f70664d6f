// Making and deleting the branches pgwarden works on, for backups and point-in-time restores alike. Neon does not
// make POST safe to repeat, so a branch is asked for once per attempt: after an answer that never came (or a 5xx, or
// 409 "already exists") it is looked up by name and annotations, and used when this run made it.
import { PgwardenError } from '../../../domain/errors.js';
import type { Config } from '../../../config/schema.js';
import { pgEndpoint, type PgEndpoint } from '../../postgres/connection.js';
import { currentReporter } from '../../progress.js';
import { NeonCallError, neonApi, type BranchWithAnnotations, type NeonApi, type NeonBranch, type PgwardenAnnotations } from './api.js';
import { assertDeletable, callingRunId, findByName, madeByRun } from './ownership.js';
import { sleep } from '../../sleep.js';

/** What the workflow carries about a branch: ids and facts, never a connection string. */
export interface NeonBranchRef {
  branchId: string;
  branchName: string;
  parentId: string;
  parentName: string;
  /** The compute endpoint pgwarden connects through (read-only for backups, read-write for PITR). */
  endpointId: string;
  /** Operations the API started to make the branch and its endpoint. */
  operationIds: string[];
  createdAt: string;
}

export interface OwnBranchRequest {
  branch: { parent_id: string; name: string; parent_timestamp?: string; parent_lsn?: string; expires_at?: string };
  endpoint: 'read_only' | 'read_write';
  annotations: PgwardenAnnotations;
}

/**
 * The branch this run asked for: the one an earlier attempt (or a request whose answer was lost) made, else a new
 * one. A branch of that name that this run did not make is never taken over.
 */
export async function makeOwnBranch(api: NeonApi, parent: Pick<NeonBranch, 'id' | 'name'>, request: OwnBranchRequest): Promise<NeonBranchRef> {
  const earlier = await findOwn(api, parent, request);
  if (earlier) return earlier;
  let made;
  try {
    made = await api.createBranch({ branch: request.branch, endpoints: [{ type: request.endpoint as never }], annotation_value: request.annotations });
  } catch (error) {
    if (!(error instanceof NeonCallError) || !(error.unanswered || error.status === 409)) throw error;
    const found = await findOwn(api, parent, request);
    if (found) return found;
    // No answer and no branch yet: the next attempt looks again before it asks again.
    if (error.status !== 409) throw error;
    throw new NeonCallError('Failed', `${error.message} No branch "${request.branch.name}" of this run is listed yet; trying again.`, 409, { retryable: true });
  }
  const endpoint = made.endpoints?.find((e) => e.type === request.endpoint) ?? made.endpoints?.[0];
  if (!endpoint) throw new PgwardenError('Failed', `Neon made branch ${made.branch.id} without the ${request.endpoint} endpoint pgwarden asked for: it will be deleted.`);
  return refOf(made.branch, parent, endpoint.id, made.operations.map((o) => o.id));
}

/** This run's branch of that name, if there is one; refused when the name belongs to a branch someone else made. */
async function findOwn(api: NeonApi, parent: Pick<NeonBranch, 'id' | 'name'>, request: OwnBranchRequest): Promise<NeonBranchRef | undefined> {
  const found = await findByName(api, request.branch.name);
  if (!found) return undefined;
  if (!madeByRun(found, request.annotations)) {
    throw new PgwardenError(
      'Refused',
      `Neon project ${api.projectId} already has a branch "${found.branch.name}" (${found.branch.id}) that this run did not make (${describeMaker(found)}): pgwarden leaves it alone. Rename or delete it, then run again.`,
    );
  }
  const operations = await api.branchOperations(found.branch.id);
  return refOf(found.branch, parent, await endpointOf(api, found.branch, request.endpoint), operations.map((o) => o.id));
}

function describeMaker(found: BranchWithAnnotations): string {
  const a = found.annotations;
  return a['pgwarden-run-id'] ? `pgwarden's ${a['pgwarden-purpose'] ?? '?'} of "${a['pgwarden-database'] ?? '?'}", run ${a['pgwarden-run-id']}` : 'not pgwarden';
}

/** The endpoint of a branch found again (GET branches/{id}/endpoints). */
async function endpointOf(api: NeonApi, branch: NeonBranch, type: 'read_only' | 'read_write'): Promise<string> {
  const endpoint = (await api.endpoints(branch.id)).find((e) => e.type === type);
  if (!endpoint) throw new PgwardenError('Failed', `Neon branch ${branch.id} ("${branch.name}") has no ${type} endpoint: it will be deleted and made again.`);
  return endpoint.id;
}

function refOf(branch: NeonBranch, parent: Pick<NeonBranch, 'id' | 'name'>, endpointId: string, operationIds: string[]): NeonBranchRef {
  return { branchId: branch.id, branchName: branch.name, parentId: parent.id, parentName: parent.name, endpointId, operationIds, createdAt: branch.created_at };
}

/** Connection details of a branch's endpoint, from the API, for this process only. */
export async function neonBranchEndpoint(config: Config, database: string, ref: { branchId: string; endpointId?: string }): Promise<PgEndpoint> {
  const uri = await neonApi(config, database).connectionUri(ref);
  return pgEndpoint(uri, `Neon branch ${ref.branchId} of database "${database}"`);
}

/** Where restores of a Neon database go when no restoreConnection is set: the parent branch's read-write endpoint. */
export async function neonRestoreEndpoint(config: Config, database: string): Promise<PgEndpoint> {
  const api = neonApi(config, database);
  const parent = await api.parentBranch();
  return pgEndpoint(await api.connectionUri({ branchId: parent.id }), `Neon branch ${parent.name} of database "${database}"`);
}

/** The activities a backup and a point-in-time restore share: waiting for Neon, and deleting what they made. */
export function neonBranchActivities(config: Config) {
  return {
    /** Polls the operations API until every operation that makes the branch has finished (never a fixed sleep). */
    async waitForNeonOperations(input: { database: string; branchId: string; operationIds: string[] }): Promise<{ waitedMs: number; operations: Array<{ id: string; action: string; status: string }> }> {
      const api = neonApi(config, input.database);
      const reporter = currentReporter();
      const started = Date.now();
      let delay = 500;
      for (;;) {
        const operations = await Promise.all(input.operationIds.map((id) => api.operation(id)));
        const failed = operations.find((o) => ['failed', 'error', 'cancelled', 'cancelling'].includes(o.status));
        if (failed) {
          throw new PgwardenError('Failed', `Neon operation ${failed.action} (${failed.id}) for branch ${input.branchId} ended "${failed.status}"${failed.error ? `: ${failed.error}` : ''}.`, { retryable: false });
        }
        const pending = operations.filter((o) => o.status !== 'finished' && o.status !== 'skipped');
        reporter.report({ phase: 'waiting for Neon', bytesDone: 0, itemsDone: operations.length - pending.length, itemsTotal: operations.length, detail: pending.map((o) => `${o.action} ${o.status}`).join(', ') });
        if (pending.length === 0) return { waitedMs: Date.now() - started, operations: operations.map((o) => ({ id: o.id, action: o.action, status: o.status })) };
        await sleep(delay, reporter.signal);
        delay = Math.min(delay * 2, 5_000);
      }
    },

    /**
     * Deletes a branch the calling run made. Idempotent (a branch already gone is success); refuses any branch that
     * pgwarden did not make for this database, and one found by name that another run made, so that a wrong id or a
     * shared name can never cost data. `runId` names the run outside Temporal (--local); inside, it is the caller's.
     */
    async deleteNeonBranch(input: { database: string; branchId?: string; branchName?: string; runId?: string }): Promise<{ deleted: boolean }> {
      const api = neonApi(config, input.database);
      const item = input.branchId ? await api.branch(input.branchId) : input.branchName ? await findByName(api, input.branchName) : undefined;
      if (!item) return { deleted: false };
      assertDeletable(item, input.database, input.runId ?? callingRunId());
      const result = await api.deleteBranch(item.branch.id);
      return { deleted: !result.gone };
    },
  };
}
