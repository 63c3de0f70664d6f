// Neon: a backup dumps a branch made for it (read-only compute, the database as of one instant), which is deleted
// afterwards whatever happened; a point-in-time restore is a branch at that time, kept until the user deletes it.
// Each step is an activity of its own, so the workflow history shows the saga; the branch's connection URI (it
// holds a password) is fetched from the API by whoever connects, and never leaves the activity.
import { EndpointType } from '@neondatabase/api-client';
import { Context } from '@temporalio/activity';
import { PgwardenError } from '../../domain/errors.js';
import { databaseView } from '../../config/load.js';
import type { Config, NeonSettings } from '../../config/schema.js';
import { locateBackup } from '../catalog/locate.js';
import { pgEndpoint, withClient, type PgEndpoint } from '../postgres/connection.js';
import { listTables } from '../postgres/inventory.js';
import { currentReporter } from '../progress.js';
import { NeonApi, type BranchWithAnnotations, type NeonBranch, type PgwardenAnnotations } from './neon-api.js';

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

export interface NeonBranchSweep {
  deleted: Array<{ id: string; name: string; createdAt: string; reason: string }>;
  kept: Array<{ id: string; name: string; reason: string }>;
}

export interface NeonPitrTarget {
  timestamp?: string;
  lsn?: string;
}

export interface NeonPitrPlan {
  parentId: string;
  parentName: string;
  target: NeonPitrTarget;
  /** What the target was given as, for reports. */
  targetDescription: string;
  branchName: string;
  window: { from: string; to: string; retentionSeconds: number };
  rtoMs?: number;
}

export interface NeonPitrCheck {
  /** postgresql://role@host/db: the role's password is the parent branch's (Neon branches share roles). */
  connection: string;
  tables: Array<{ table: string; rows: number }>;
  /** The logical backup whose table list was counted, when there is one. */
  comparedWith?: string;
}

/** pgwarden-<database>-<backup id>: recognisable in the console and by retention, unique per backup. */
export function backupBranchName(database: string, backupId: string): string {
  return `pgwarden-${database}-${backupId}`;
}

export function neonSettings(config: Config, database: string): NeonSettings {
  const db = databaseView(config, database);
  if (db.settings.provider !== 'neon' || !db.settings.neon) {
    throw new PgwardenError('Config', `Database "${database}" is not a Neon database (provider: ${db.settings.provider}).`);
  }
  return db.settings.neon;
}

export function neonApi(config: Config, database: string): NeonApi {
  return NeonApi.fromConfig(neonSettings(config, database), database, currentReporter().signal);
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

export function neonActivities(config: Config) {
  return {
    /**
     * Makes the backup's branch from the parent with a read-only endpoint. Idempotent: a retry finds the branch
     * an earlier attempt made (by its name) instead of making a second one.
     */
    async createNeonBackupBranch(input: { database: string; backupId: string; workflowId: string; runId: string }): Promise<NeonBranchRef> {
      const settings = neonSettings(config, input.database);
      const api = neonApi(config, input.database);
      const name = backupBranchName(input.database, input.backupId);
      const parent = await api.parentBranch();
      const existing = await findByName(api, name);
      if (existing) return refOf(existing.branch, parent, await endpointOf(api, existing.branch, 'read_only'), []);
      const expiresAt = settings.branchExpiry === false ? undefined : new Date(Date.now() + settings.branchExpiry).toISOString().replace(/\.\d+Z$/, 'Z');
      const annotations: PgwardenAnnotations = {
        'pgwarden-purpose': 'backup',
        'pgwarden-database': input.database,
        'pgwarden-workflow-id': input.workflowId,
        'pgwarden-run-id': input.runId,
      };
      const made = await api.createBranch({
        branch: { parent_id: parent.id, name, ...(expiresAt ? { expires_at: expiresAt } : {}) },
        endpoints: [{ type: EndpointType.ReadOnly }],
        annotation_value: annotations,
      });
      const endpoint = made.endpoints?.find((e) => e.type === 'read_only') ?? made.endpoints?.[0];
      if (!endpoint) throw new PgwardenError('Failed', `Neon made branch ${made.branch.id} without the read-only endpoint pgwarden asked for: it will be deleted.`);
      return refOf(made.branch, parent, endpoint.id, made.operations.map((o) => o.id));
    },

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
        await sleepCancellable(delay, reporter.signal);
        delay = Math.min(delay * 2, 5_000);
      }
    },

    /**
     * Connects to the branch through the connection URI the API gives (fetched here, kept here) and reads the
     * instant it holds: the history then shows what the backup is of, without any credential in it.
     */
    async inspectNeonBranch(input: { database: string; branchId: string; endpointId: string }): Promise<NeonBranchPoint> {
      const api = neonApi(config, input.database);
      const branch = await api.branch(input.branchId);
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

    /**
     * Deletes a branch pgwarden made. Idempotent (a branch already gone is success) and refuses any branch that
     * is not pgwarden's (the default branch, or one without pgwarden's name), so a wrong id can never cost data.
     */
    async deleteNeonBranch(input: { database: string; branchId?: string; branchName?: string }): Promise<{ deleted: boolean }> {
      const api = neonApi(config, input.database);
      const branch = input.branchId ? await api.branch(input.branchId) : input.branchName ? (await findByName(api, input.branchName))?.branch : undefined;
      if (!branch) return { deleted: false };
      assertPgwardenBranch(branch, input.database);
      const result = await api.deleteBranch(branch.id);
      return { deleted: !result.gone };
    },

    /**
     * Retention for branches: deletes backup branches whose backup is no longer running (a worker that died, a
     * workflow terminated before its clean-up). Point-in-time branches are the user's and stay.
     */
    async sweepNeonBranches(input: { database: string; dryRun?: boolean }): Promise<NeonBranchSweep> {
      const db = databaseView(config, input.database);
      const result: NeonBranchSweep = { deleted: [], kept: [] };
      if (db.settings.provider !== 'neon') return result;
      const settings = neonSettings(config, input.database);
      const api = neonApi(config, input.database);
      const prefix = `pgwarden-${input.database}-`;
      for (const { branch, annotations } of await api.branches(prefix)) {
        if (!branch.name.startsWith(prefix) || branch.default) continue;
        const purpose = annotations['pgwarden-purpose'];
        if (purpose === 'pitr' || branch.name.startsWith(`pgwarden-pitr-`)) continue;
        const reason = await leftoverReason(branch, annotations, settings);
        if (!reason.leftover) {
          result.kept.push({ id: branch.id, name: branch.name, reason: reason.why });
          continue;
        }
        if (!input.dryRun) await api.deleteBranch(branch.id);
        result.deleted.push({ id: branch.id, name: branch.name, createdAt: branch.created_at, reason: reason.why });
      }
      return result;
    },

    /** Checks a point-in-time target against the project's history window before anything is created. */
    async planNeonPitr(input: { database: string; target: string; runId: string; nowMs: number }): Promise<NeonPitrPlan> {
      const db = databaseView(config, input.database);
      const api = neonApi(config, input.database);
      const [project, parent] = await Promise.all([api.project(), api.parentBranch()]);
      const to = new Date(input.nowMs);
      const from = new Date(input.nowMs - project.historyRetentionSeconds * 1_000);
      const window = { from: from.toISOString(), to: to.toISOString(), retentionSeconds: project.historyRetentionSeconds };
      const target = parseNeonTarget(input.target);
      if (target.timestamp) {
        const at = Date.parse(target.timestamp);
        if (at < from.getTime() || at > to.getTime()) {
          throw new PgwardenError(
            'Refused',
            `${input.target} is outside Neon's history window of project ${project.id} (${formatWindow(project.historyRetentionSeconds)}: ${window.from} to ${window.to}): ` +
              'nothing was created. Pick a time inside it, or restore a logical backup (`pgwarden restore`).',
          );
        }
      }
      const stamp = (target.timestamp ?? new Date(input.nowMs).toISOString()).replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
      return {
        parentId: parent.id,
        parentName: parent.name,
        target,
        targetDescription: target.timestamp ?? (target.lsn ? `LSN ${target.lsn}` : 'latest'),
        branchName: `pgwarden-pitr-${input.database}-${stamp}-${input.runId.replace(/-/g, '').slice(0, 4)}`,
        window,
        ...(db.rtoMs !== undefined ? { rtoMs: db.rtoMs } : {}),
      };
    },

    /** The point-in-time branch, with a read-write endpoint; idempotent by name. Kept until the user deletes it. */
    async createNeonPitrBranch(input: { database: string; plan: NeonPitrPlan; workflowId: string; runId: string }): Promise<NeonBranchRef> {
      const api = neonApi(config, input.database);
      const parent = { id: input.plan.parentId, name: input.plan.parentName } as NeonBranch;
      const existing = await findByName(api, input.plan.branchName);
      if (existing) return refOf(existing.branch, parent, await endpointOf(api, existing.branch, 'read_write'), []);
      const made = await api.createBranch({
        branch: {
          parent_id: input.plan.parentId,
          name: input.plan.branchName,
          ...(input.plan.target.timestamp ? { parent_timestamp: input.plan.target.timestamp } : {}),
          ...(input.plan.target.lsn ? { parent_lsn: input.plan.target.lsn } : {}),
        },
        endpoints: [{ type: EndpointType.ReadWrite }],
        annotation_value: { 'pgwarden-purpose': 'pitr', 'pgwarden-database': input.database, 'pgwarden-workflow-id': input.workflowId, 'pgwarden-run-id': input.runId },
      });
      const endpoint = made.endpoints?.find((e) => e.type === 'read_write') ?? made.endpoints?.[0];
      if (!endpoint) throw new PgwardenError('Failed', `Neon made branch ${made.branch.id} without a read-write endpoint.`);
      return refOf(made.branch, parent, endpoint.id, made.operations.map((o) => o.id));
    },

    /** Connects to the restored branch and counts rows: the tables of the newest logical backup if there is one, else every table. */
    async verifyNeonPitrBranch(input: { database: string; branchId: string; endpointId: string }): Promise<NeonPitrCheck> {
      const endpoint = await neonBranchEndpoint(config, input.database, input);
      let expected: string[] | undefined;
      let comparedWith: string | undefined;
      try {
        const { manifest } = await locateBackup(config, input.database, 'latest'); // the newest in any of its repositories
        expected = Object.keys(manifest.tables);
        comparedWith = manifest.id;
      } catch (error) {
        if (!(error instanceof PgwardenError && error.kind === 'NotFound')) throw error;
      }
      const tables = await withClient(endpoint, 'neon pitr verify', async (client) => {
        const present = new Set((await listTables(client)).map((t) => t.name));
        const names = expected ? expected.filter((t) => present.has(t)) : [...present].sort();
        const counted: Array<{ table: string; rows: number }> = [];
        for (const table of names) {
          const { rows } = await client.query<{ n: string }>(`SELECT count(*) AS n FROM ONLY ${table}`);
          counted.push({ table, rows: Number(rows[0]!.n) });
        }
        return counted;
      });
      const url = new URL(endpoint.url);
      return {
        connection: `postgresql://${url.username}@${url.host}${url.pathname}${url.search}`,
        tables,
        ...(comparedWith ? { comparedWith } : {}),
      };
    },
  };
}

/** The branches pgwarden made for `database` (backups left behind, point-in-time restores), for `branches list`. */
export async function listPgwardenBranches(config: Config, database: string): Promise<Array<BranchWithAnnotations & { purpose: string }>> {
  const api = neonApi(config, database);
  const prefixes = [`pgwarden-${database}-`, `pgwarden-pitr-${database}-`];
  const found = new Map<string, BranchWithAnnotations & { purpose: string }>();
  for (const prefix of prefixes) {
    for (const item of await api.branches(prefix)) {
      if (!item.branch.name.startsWith(prefix)) continue;
      const purpose = item.annotations['pgwarden-purpose'] ?? (prefix.startsWith('pgwarden-pitr-') ? 'pitr' : 'backup');
      found.set(item.branch.id, { ...item, purpose });
    }
  }
  return [...found.values()].sort((a, b) => a.branch.created_at.localeCompare(b.branch.created_at));
}

/** `wal status` for a Neon database: Neon keeps the WAL; its history window is the restore window. */
export async function neonRestoreWindow(config: Config, database: string, nowMs = Date.now()) {
  const api = neonApi(config, database);
  const [project, parent] = await Promise.all([api.project(), api.parentBranch()]);
  return {
    database,
    provider: 'neon' as const,
    projectId: project.id,
    parentBranch: { id: parent.id, name: parent.name },
    historyRetentionSeconds: project.historyRetentionSeconds,
    window: { from: new Date(nowMs - project.historyRetentionSeconds * 1_000).toISOString(), to: new Date(nowMs).toISOString() },
  };
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

function assertPgwardenBranch(branch: NeonBranch, database: string): void {
  const ours = branch.name.startsWith(`pgwarden-${database}-`) || branch.name.startsWith(`pgwarden-pitr-${database}-`);
  if (branch.default || !ours) {
    throw new PgwardenError('Refused', `Refusing to delete Neon branch ${branch.id} ("${branch.name}"): pgwarden deletes only the branches it made for "${database}".`);
  }
}

async function findByName(api: NeonApi, name: string): Promise<BranchWithAnnotations | undefined> {
  return (await api.branches(name)).find((b) => b.branch.name === name);
}

/** The endpoint of a branch found again by a retry (GET branches/{id}/endpoints). */
async function endpointOf(api: NeonApi, branch: NeonBranch, type: 'read_only' | 'read_write'): Promise<string> {
  const endpoint = (await api.endpoints(branch.id)).find((e) => e.type === type);
  if (!endpoint) throw new PgwardenError('Failed', `Neon branch ${branch.id} ("${branch.name}") has no ${type} endpoint: it will be deleted and made again.`);
  return endpoint.id;
}

function refOf(branch: NeonBranch, parent: Pick<NeonBranch, 'id' | 'name'>, endpointId: string, operationIds: string[]): NeonBranchRef {
  return { branchId: branch.id, branchName: branch.name, parentId: parent.id, parentName: parent.name, endpointId, operationIds, createdAt: branch.created_at };
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

/** A PITR target Neon can branch at: a time with zone, an LSN, or "latest" (the head of the parent). */
export function parseNeonTarget(target: string): NeonPitrTarget {
  const text = target.trim();
  if (text === 'latest') return {};
  if (/^[0-9A-Fa-f]{1,8}\/[0-9A-Fa-f]{1,8}$/.test(text)) return { lsn: text.toUpperCase() };
  if (/^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}(:?\d{2})?)$/.test(text) && !Number.isNaN(Date.parse(text.replace(' ', 'T')))) {
    return { timestamp: new Date(Date.parse(text.replace(' ', 'T'))).toISOString().replace(/\.000Z$/, 'Z') };
  }
  throw new PgwardenError(
    'Usage',
    `"${target}" is not a target Neon can branch at: give a time with its zone (2026-11-25T14:30:00+01:00), an LSN (0/3000028) or "latest". ` +
      'Neon has no transaction ids or named restore points to branch at.',
  );
}

function formatWindow(seconds: number): string {
  return seconds % 86_400 === 0 ? `${seconds / 86_400} day(s)` : seconds % 3_600 === 0 ? `${seconds / 3_600} hour(s)` : `${seconds} s`;
}

function sleepCancellable(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(timer);
      reject(signal.reason);
    }, { once: true });
  });
}

