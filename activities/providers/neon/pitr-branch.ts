// Point-in-time restore of a Neon database: a branch of the parent at the target (checked first against the window
// Neon will honour: its history setting, capped by the plan, and never before the project existed), with a
// read-write compute, verified by counting rows. Every run makes a branch of its own, kept until the user deletes it.
import { PgwardenError } from '../../../domain/errors.js';
import { formatRetention } from '../../../domain/format.js';
import { databaseView } from '../../../config/load.js';
import type { Config } from '../../../config/schema.js';
import { locateBackup } from '../../catalog/locate.js';
import { withClient } from '../../postgres/connection.js';
import { listTables } from '../../postgres/inventory.js';
import { NeonCallError, neonApi, type NeonBranch, type NeonProjectInfo } from './api.js';
import { makeOwnBranch, neonBranchEndpoint, type NeonBranchRef } from './branch.js';

export interface NeonPitrTarget {
  timestamp?: string;
  lsn?: string;
}

/** The moments Neon can branch at now. */
export interface NeonHistoryWindow {
  from: string;
  to: string;
  /** How far back from `to` it reaches, in seconds (shorter than the project's setting when its age or plan limits it). */
  retentionSeconds: number;
  /** Why the window is shorter than the project's history setting, when it is. */
  limitedBy?: 'project age' | 'plan';
}

export interface NeonPitrPlan {
  parentId: string;
  parentName: string;
  target: NeonPitrTarget;
  /** What the target was given as, for reports. */
  targetDescription: string;
  branchName: string;
  window: NeonHistoryWindow;
  rtoMs?: number;
}

export interface NeonPitrCheck {
  /** postgresql://role@host/db: the role's password is the parent branch's (Neon branches share roles). */
  connection: string;
  tables: Array<{ table: string; rows: number }>;
  /** The logical backup whose table list was counted, when there is one. */
  comparedWith?: string;
}

/**
 * The longest history window of each of Neon's plans (neon.com/docs/introduction/restore-window): a project moved
 * to a smaller plan keeps its setting, but Neon honours only the plan's maximum. Unknown plans: the setting.
 */
const PLAN_MAX_SECONDS: Array<[RegExp, number]> = [
  [/^free/, 6 * 3_600],
  [/^launch/, 7 * 86_400],
  [/^(scale|business)/, 30 * 86_400],
];

/** The window Neon will branch in at `nowMs`: its history setting, capped by the plan, from the project's creation on. */
export function neonHistoryWindow(project: Pick<NeonProjectInfo, 'historyRetentionSeconds' | 'createdAt' | 'plan'>, nowMs: number): NeonHistoryWindow {
  const planMax = PLAN_MAX_SECONDS.find(([pattern]) => pattern.test(project.plan ?? ''))?.[1];
  let seconds = project.historyRetentionSeconds;
  let limitedBy: NeonHistoryWindow['limitedBy'];
  if (planMax !== undefined && planMax < seconds) {
    seconds = planMax;
    limitedBy = 'plan';
  }
  // A branch point is given in whole seconds: the first one Neon has is the second after the project was made.
  const born = Math.ceil(Date.parse(project.createdAt) / 1_000) * 1_000;
  if (!Number.isNaN(born) && born > nowMs - seconds * 1_000) {
    seconds = Math.max(0, Math.floor((nowMs - born) / 1_000));
    limitedBy = 'project age';
  }
  return {
    from: new Date(nowMs - seconds * 1_000).toISOString(),
    to: new Date(nowMs).toISOString(),
    retentionSeconds: seconds,
    ...(limitedBy ? { limitedBy } : {}),
  };
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

/** `wal status` for a Neon database: Neon keeps the WAL; the window it will branch in is the restore window. */
export async function neonRestoreWindow(config: Config, database: string, nowMs = Date.now()) {
  const api = neonApi(config, database);
  const [project, parent] = await Promise.all([api.project(), api.parentBranch()]);
  return {
    database,
    provider: 'neon' as const,
    projectId: project.id,
    projectCreatedAt: project.createdAt,
    ...(project.plan ? { plan: project.plan } : {}),
    parentBranch: { id: parent.id, name: parent.name },
    historyRetentionSeconds: project.historyRetentionSeconds,
    window: neonHistoryWindow(project, nowMs),
  };
}

/** The activities of a Neon point-in-time restore: plan against Neon's window, branch, count what the branch holds. */
export function neonPitrActivities(config: Config) {
  return {
    planNeonPitr: (input: Parameters<typeof planNeonPitr>[1]) => planNeonPitr(config, input),
    createNeonPitrBranch: (input: Parameters<typeof createNeonPitrBranch>[1]) => createNeonPitrBranch(config, input),
    verifyNeonPitrBranch: (input: Parameters<typeof verifyNeonPitrBranch>[1]) => verifyNeonPitrBranch(config, input),
  };
}

/** Checks a point-in-time target against the window Neon will honour before anything is created. */
async function planNeonPitr(config: Config, input: { database: string; target: string; runId: string; nowMs: number }): Promise<NeonPitrPlan> {
  const db = databaseView(config, input.database);
  const api = neonApi(config, input.database);
  const [project, parent] = await Promise.all([api.project(), api.parentBranch()]);
  const window = neonHistoryWindow(project, input.nowMs);
  const target = parseNeonTarget(input.target);
  if (target.timestamp) {
    const at = Date.parse(target.timestamp);
    if (at < Date.parse(window.from) || at > Date.parse(window.to)) {
      const why = window.limitedBy === 'project age' ? `, which begins when the project was made` : window.limitedBy === 'plan' ? `, as long as the plan (${project.plan}) allows` : '';
      throw new PgwardenError(
        'Refused',
        `${input.target} is outside Neon's history window of project ${project.id} (${formatRetention(window.retentionSeconds * 1000)}: ${window.from} to ${window.to}${why}): ` +
          'nothing was created. Pick a time inside it, or restore a logical backup (`pgwarden restore`).',
      );
    }
  }
  const stamp = (target.timestamp ?? new Date(input.nowMs).toISOString()).replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  // The run id's random tail (UUIDv7 begins with a timestamp shared by runs weeks apart): one branch per run.
  const runPart = input.runId.replace(/-/g, '').slice(-8);
  return {
    parentId: parent.id,
    parentName: parent.name,
    target,
    targetDescription: target.timestamp ?? (target.lsn ? `LSN ${target.lsn}` : 'latest'),
    branchName: `pgwarden-pitr-${input.database}-${stamp}-${runPart}`,
    window,
    ...(db.rtoMs !== undefined ? { rtoMs: db.rtoMs } : {}),
  };
}

/** This run's point-in-time branch, with a read-write endpoint. Kept until the user deletes it. */
async function createNeonPitrBranch(config: Config, input: { database: string; plan: NeonPitrPlan; workflowId: string; runId: string }): Promise<NeonBranchRef> {
  const api = neonApi(config, input.database);
  const parent = { id: input.plan.parentId, name: input.plan.parentName } as NeonBranch;
  try {
    return await makeOwnBranch(api, parent, {
      branch: {
        parent_id: input.plan.parentId,
        name: input.plan.branchName,
        ...(input.plan.target.timestamp ? { parent_timestamp: input.plan.target.timestamp } : {}),
        ...(input.plan.target.lsn ? { parent_lsn: input.plan.target.lsn } : {}),
      },
      endpoint: 'read_write',
      annotations: { 'pgwarden-purpose': 'pitr', 'pgwarden-database': input.database, 'pgwarden-workflow-id': input.workflowId, 'pgwarden-run-id': input.runId },
    });
  } catch (error) {
    // 400 and 422 are answers: nothing was made. A target Neon will not branch at is the user's to change.
    if (error instanceof NeonCallError && (error.status === 400 || error.status === 422) && (input.plan.target.timestamp || input.plan.target.lsn)) {
      throw new PgwardenError(
        'Refused',
        `Neon refused to branch "${input.database}" at ${input.plan.targetDescription}: nothing was created (${error.message}). ` +
          `\`pgwarden wal status --db ${input.database}\` prints the window Neon keeps; pick a target inside it.`,
      );
    }
    throw error;
  }
}

/** Connects to the restored branch and counts rows: the tables of the newest logical backup if there is one, else every table. */
async function verifyNeonPitrBranch(config: Config, input: { database: string; branchId: string; endpointId: string }): Promise<NeonPitrCheck> {
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
}

