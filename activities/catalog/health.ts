// One database's state as the repositories tell it (and Temporal, where it answers): newest backups per kind,
// WAL archive lag and restore window, the last drill and verification, firing alerts. The monitor evaluates
// its rules on this, the metrics endpoint exports it, `pgwarden status` prints it: three views of one truth.
import type { Client } from '@temporalio/client';
import { databaseView } from '../../config/load.js';
import type { Config } from '../../config/schema.js';
import type { BackupSummary, DatabaseHealth } from '../../domain/health.js';
import { lockWorkflowIds, SEARCH_ATTRIBUTES } from '../../domain/ids.js';
import { terminateCommand, unservedReason } from '../workflow-runs.js';
import { sourceEndpoint, withClient } from '../postgres/connection.js';
import { openRepository } from '../storage/open.js';
import type { Repository } from '../storage/repository.js';
import { parseWalFileName } from '../wal/names.js';
import { walRepositoryName } from '../wal/open.js';
import { walStatus } from '../wal/status.js';
import { readManifest, type BackupManifest } from './manifest.js';
import { firingAlerts, readReportChecked } from './monitor-records.js';

/** Manifests never change once written: each process reads each one once. */
const manifests = new Map<string, BackupManifest>();

/** Complete backups of a database in one repository, oldest first (manifests cached). */
export async function completeBackups(repo: Repository, database: string, type: 'logical' | 'base'): Promise<BackupManifest[]> {
  const folders = await repo.listFolders(`${database}/${type}/`);
  const found: BackupManifest[] = [];
  const missing = folders.filter((f) => !manifests.has(`${repo.name}\0${f}`));
  for (let i = 0; i < missing.length; i += 16) {
    await Promise.all(
      missing.slice(i, i + 16).map(async (folder) => {
        const manifest = await readManifest(repo, folder).catch(() => undefined);
        if (manifest) manifests.set(`${repo.name}\0${folder}`, manifest);
      }),
    );
  }
  for (const folder of folders) {
    const manifest = manifests.get(`${repo.name}\0${folder}`);
    if (manifest) found.push(manifest);
  }
  return found.sort((a, b) => a.finishedAt.localeCompare(b.finishedAt) || a.id.localeCompare(b.id));
}

export function summarize(m: BackupManifest): BackupSummary {
  return { id: m.id, kind: m.kind, startedAt: m.startedAt, finishedAt: m.finishedAt, storedBytes: m.storedBytes, durationMs: Date.parse(m.finishedAt) - Date.parse(m.startedAt) };
}

const message = (error: unknown) => ((error as Error)?.message ?? String(error)).split('\n')[0]!;

export interface HealthOptions {
  nowMs?: number;
  /** Ask Temporal for the database's running jobs. */
  temporal?: Client;
  namespace?: string;
}

export async function databaseHealth(config: Config, database: string, options: HealthOptions = {}): Promise<DatabaseHealth> {
  const nowMs = options.nowMs ?? Date.now();
  const db = databaseView(config, database);
  const primary = db.repositories[0]!;
  const health: DatabaseHealth = {
    database,
    environment: db.settings.environment,
    ...(db.rpoMs !== undefined ? { rpoMs: db.rpoMs } : {}),
    ...(db.rtoMs !== undefined ? { rtoMs: db.rtoMs } : {}),
    checkedAt: new Date(nowMs).toISOString(),
    logical: { repository: primary, byKind: {}, count: 0 },
    alerts: [],
  };

  const tasks: Array<Promise<void>> = [];
  tasks.push(
    // Every repository a kind goes to: pre-migration backups may live where the others do not.
    Promise.allSettled(db.allRepositories.map((name) => completeBackups(openRepository(config, name), database, 'logical'))).then((settled) => {
        health.repositories = db.allRepositories.map((name, i) => {
          const s = settled[i]!;
          return s.status === 'fulfilled' ? { name, readable: true } : { name, readable: false, error: message(s.reason) };
        });
        const failed = health.repositories.find((r) => !r.readable);
        if (failed) {
          health.logical.repository = failed.name;
          health.logical.error = failed.error!;
          return;
        }
        const lists = settled.map((s) => (s as PromiseFulfilledResult<BackupManifest[]>).value);
        const byId = new Map(lists.flat().map((m) => [m.id, m]));
        const all = [...byId.values()].sort((a, b) => a.finishedAt.localeCompare(b.finishedAt) || a.id.localeCompare(b.id));
        health.logical.count = all.length;
        for (const m of all) health.logical.byKind[m.kind] = summarize(m);
        if (all.length) health.logical.newest = summarize(all.at(-1)!);
      }),
  );
  if (db.settings.pitr) {
    const repository = walRepositoryName(config, database);
    health.base = { repository, count: 0 };
    health.wal = { repository, gaps: 0 };
    tasks.push(
      completeBackups(openRepository(config, repository), database, 'base').then(
        (all) => {
          health.base!.count = all.length;
          if (all.length) health.base!.newest = summarize(all.at(-1)!);
        },
        (error) => void (health.base!.error = message(error)),
      ),
    );
    tasks.push(walHealth(config, database, nowMs).then((wal) => void (health.wal = wal)));
  }
  const unknown = (part: 'drill' | 'verify' | 'alerts', why: string) => void (health.unknown = { ...health.unknown, [part]: why });
  tasks.push(readReportChecked(config, database, 'drill').then((r) => void (r.report ? (health.drill = r.report) : r.error && unknown('drill', r.error))));
  tasks.push(readReportChecked(config, database, 'verify').then((r) => void (r.report ? (health.verify = r.report) : r.error && unknown('verify', r.error))));
  tasks.push(readReportChecked(config, database, 'comparison').then((r) => void (r.report && (health.comparison = r.report))));
  tasks.push(
    alertsOf(config, database, options.temporal).then(({ unknown: why, ...a }) => {
      Object.assign(health, a);
      if (why?.alerts) unknown('alerts', why.alerts);
    }),
  );
  if (options.temporal) tasks.push(runningJobs(options.temporal, database, config.temporal.address).then((r) => void (r && (health.running = r))));
  await Promise.all(tasks);
  return health;
}

/** Firing alerts from the ledger (Temporal); from the repositories' copy when Temporal was not asked or does not answer. */
async function alertsOf(config: Config, database: string, temporal: Client | undefined): Promise<Pick<DatabaseHealth, 'alerts' | 'alertsFrom' | 'channels' | 'unknown'>> {
  let why = '';
  if (temporal) {
    try {
      // Loaded here: it brings @temporalio/client, which the storage-only commands (backups list) never need.
      const { ledgerView } = await import('../notify/alert-store.js');
      const view = await ledgerView(temporal, database);
      return { alerts: (view?.states ?? []).filter((s) => s.firing), alertsFrom: 'temporal', channels: view?.channels ?? [] };
    } catch (error) {
      why = `Temporal: ${message(error)}; `;
    }
  }
  try {
    return { alerts: await firingAlerts(config, database), alertsFrom: 'repository' };
  } catch (error) {
    return { alerts: [], alertsFrom: 'unknown', unknown: { alerts: `${why}${message(error)}` } };
  }
}

/** The archive's lag behind the server and its restore window. */
async function walHealth(config: Config, database: string, nowMs: number): Promise<NonNullable<DatabaseHealth['wal']>> {
  const repository = walRepositoryName(config, database);
  try {
    const status = await walStatus(config, database);
    const wal: NonNullable<DatabaseHealth['wal']> = { repository, gaps: status.gaps.length };
    if (status.identity?.createdAt) wal.archiveSince = status.identity.createdAt;
    if (status.window) wal.window = { from: status.window.from, to: status.window.to };
    if (status.newest) {
      wal.newest = status.newest.name;
      wal.newestAt = status.newest.closedAt;
      wal.lagMs = Math.max(0, nowMs - Date.parse(status.newest.closedAt));
      // A quiet server writes no new WAL: the newest archived segment then ages without anything being at risk.
      // Lag is only real while completed segments wait; the server says which segment it is writing.
      const current = await currentSegment(config, database);
      const newest = parseWalFileName(status.newest.name, status.identity?.segmentSize || undefined);
      if (current && newest?.segno !== undefined && current.timeline === newest.timeline && newest.segno + 1n >= current.segno) wal.lagMs = 0;
    }
    return wal;
  } catch (error) {
    return { repository, gaps: 0, error: message(error) };
  }
}

async function currentSegment(config: Config, database: string): Promise<{ timeline: number; segno: bigint } | undefined> {
  try {
    const name = await withClient(sourceEndpoint(config, database), 'monitor', async (client) => {
      const { rows } = await client.query<{ f: string }>('SELECT pg_walfile_name(pg_current_wal_lsn()) AS f');
      return rows[0]!.f;
    });
    const parsed = parseWalFileName(name);
    return parsed?.segno !== undefined ? { timeline: parsed.timeline, segno: parsed.segno } : undefined;
  } catch {
    return undefined; // unreachable, or a standby: the archive's own age stands
  }
}

/** pgwarden jobs of the database that Temporal says are running (undefined if Temporal does not answer). */
async function runningJobs(client: Client, database: string, address: string): Promise<DatabaseHealth['running']> {
  const jobs: NonNullable<DatabaseHealth['running']> = [];
  try {
    // By the lock ids too: a run no worker ever picked up (a typo in the UI's task queue or type) is not tagged yet.
    const ids = lockWorkflowIds(database).map((id) => `WorkflowId = "${id}"`);
    const query = `(${SEARCH_ATTRIBUTES.database.name} = "${database}" OR ${ids.join(' OR ')}) AND ExecutionStatus = "Running"`;
    for await (const run of client.workflow.list({ query, pageSize: 50 })) {
      // A lock held for a run started under another id: that run is listed itself.
      if (['notifyWorkflow', 'monitorWorkflow', 'scheduledWorkflow', 'alertLedgerWorkflow', 'databaseLockWorkflow'].includes(run.type)) continue;
      const unserved = await unservedReason(client, run);
      jobs.push({
        workflowType: run.type,
        workflowId: run.workflowId,
        runId: run.runId,
        startedAt: run.startTime.toISOString(),
        taskQueue: run.taskQueue,
        ...(unserved ? { unserved, end: terminateCommand(client, run, address) } : {}),
      });
      if (jobs.length >= 20) break;
    }
    return jobs;
  } catch {
    return undefined;
  }
}
