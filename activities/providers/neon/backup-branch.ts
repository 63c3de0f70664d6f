// The branch a Neon backup dumps: made from the parent with a read-only compute (the database as of one instant),
// checked through the connection the API gives (fetched here, kept here), deleted afterwards by the workflow.
import type { Config } from '../../../config/schema.js';
import { PgwardenError } from '../../../domain/errors.js';
import { pgEndpoint, withClient } from '../../postgres/connection.js';
import { NeonCallError, neonApi, neonSettings } from './api.js';
import { makeOwnBranch, type NeonBranchRef } from './branch.js';

/** The instant a branch holds: Neon reports the parent's LSN, and the time when the branch was made at one. */
export interface NeonBranchPoint {
  branchId: string;
  branchName: string;
  parentId: string;
  parentLsn?: string;
  parentTimestamp?: string;
  createdAt: string;
  /** host:port of the endpoint (no credentials). */
  endpoint: string;
  serverVersion: string;
}

/** The branch made for one backup, as the workflow hands it to the dump: ids to connect by, and the instant it holds. */
export interface NeonDumpSource {
  branchId: string;
  endpointId: string;
  point: NeonBranchPoint;
}

/** pgwarden-<database>-<backup id>: recognisable in the console, unique per backup. */
export function backupBranchName(database: string, backupId: string): string {
  return `pgwarden-${database}-${backupId}`;
}

export function neonBackupActivities(config: Config) {
  return {
    /**
     * Makes the backup's branch from the parent with a read-only endpoint. Idempotent: a retry, or a request whose
     * answer was lost, finds the branch this run made (by name and annotations) instead of making a second one.
     */
    async createNeonBackupBranch(input: { database: string; backupId: string; workflowId: string; runId: string }): Promise<NeonBranchRef> {
      const settings = neonSettings(config, input.database);
      const api = neonApi(config, input.database);
      const parent = await api.parentBranch();
      const expiresAt = settings.branchExpiry === false ? undefined : new Date(Date.now() + settings.branchExpiry).toISOString().replace(/\.\d+Z$/, 'Z');
      try {
        return await makeOwnBranch(api, parent, {
          branch: { parent_id: parent.id, name: backupBranchName(input.database, input.backupId), ...(expiresAt ? { expires_at: expiresAt } : {}) },
          endpoint: 'read_only',
          annotations: { 'pgwarden-purpose': 'backup', 'pgwarden-database': input.database, 'pgwarden-workflow-id': input.workflowId, 'pgwarden-run-id': input.runId },
        });
      } catch (error) {
        // Each running backup holds a read-only compute; plans limit them per project (Free: 3).
        if (error instanceof NeonCallError && error.status === 422 && /read.?only|compute|endpoint/i.test(error.message)) {
          throw new NeonCallError(
            'Failed',
            `${error.message} Each running backup uses a read-only compute of project ${api.projectId}, and the plan limits them (Free: 3 per project): ` +
              `delete backup branches left behind (\`pgwarden branches list --db ${input.database}\`) or read replicas you no longer need; the backup is tried again.`,
            422,
            { retryable: true },
          );
        }
        throw error;
      }
    },

    /**
     * Connects to the branch through the connection URI the API gives (fetched here, kept here) and reads the
     * instant it holds: the history then shows what the backup is of, without any credential in it.
     */
    async inspectNeonBranch(input: { database: string; branchId: string; endpointId: string }): Promise<NeonBranchPoint> {
      const api = neonApi(config, input.database);
      const branch = (await api.branch(input.branchId))?.branch;
      if (!branch) throw new PgwardenError('NotFound', `Neon branch ${input.branchId} is gone before it was dumped.`);
      const endpoint = pgEndpoint(await api.connectionUri(input), `Neon branch ${branch.name}`);
      const version = await withClient(endpoint, 'neon branch check', async (client) => (await client.query<{ v: string }>(`SELECT current_setting('server_version') AS v`)).rows[0]!.v);
      return {
        branchId: branch.id,
        branchName: branch.name,
        parentId: branch.parent_id ?? '',
        ...(branch.parent_lsn ? { parentLsn: branch.parent_lsn } : {}),
        ...(branch.parent_timestamp ? { parentTimestamp: branch.parent_timestamp } : {}),
        createdAt: branch.created_at,
        endpoint: endpoint.display,
        serverVersion: version,
      };
    },
  };
}
