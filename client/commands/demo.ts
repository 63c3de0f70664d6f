// pgwarden demo: the main job on an embedded default. A Temporal dev server (SQLite), a local PostgreSQL with a
// Cartly-like database, a filesystem repository; one backup and one restore through Temporal, reported.
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes, createHash } from 'node:crypto';
import { join, resolve } from 'node:path';
import { stringify } from 'yaml';
import { clusterUser, freePort, LocalCluster, portIsFree } from '../../activities/postgres/cluster.js';
import { serverBinDir } from '../../activities/postgres/binaries.js';
import { withClient, pgEndpoint } from '../../activities/postgres/connection.js';
import { tableFingerprints } from '../../activities/postgres/fingerprint.js';
import { formatBytes, formatDuration } from '../../domain/format.js';
import { PgwardenError } from '../../domain/errors.js';
import { loadConfig } from '../../config/load.js';
import { connectClient, connectWorker, ensureSearchAttributes } from '../../worker/temporal.js';
import { createWorker } from '../../worker/worker.js';
import { serveMetrics } from '../../worker/metrics.js';
import type { BackupResult } from '../../domain/backup.js';
import type { DrillResult, VerifyResult } from '../../domain/verify.js';
import type { RestoreResult } from '../../domain/restore.js';
import { startBackup, startDrill, startRestore, startVerify } from '../api.js';
import type { CommandContext } from '../context.js';
import { CARTLY_SCHEMA, CARTLY_TABLES, cartlyDataStatements } from '../demo/cartly.js';
import { startDevServer, temporalAnswers } from '../demo/devserver.js';
import { describeBackup } from './backup.js';
import { describeDrill } from './drill.js';
import { describeVerify } from './verify.js';
import { describeRestore } from './restore.js';
import { waitFor } from '../watch.js';
import { processAlive } from '../../activities/process-alive.js';

interface DemoState {
  temporal?: { pid: number; address: string; ui: string };
  postgres?: { dataDir: string; port: number; binDir: string; user?: string };
}

const DB_USER = 'cartly_owner';
const DB_NAME = 'cartly';

/** What the demo's steps hand on: where its services are and what its jobs returned. */
interface DemoDatabase {
  cluster: LocalCluster;
  password: string;
  url: string;
  size: number;
}
interface DemoRuns {
  backup: BackupResult;
  restore: RestoreResult;
  drill: DrillResult;
  verified: VerifyResult;
  metricLines: string[];
  metricsUrl: string;
}
type Say = (line: string) => void;

export async function demoCommand(ctx: CommandContext, options: { dir: string; orders: number; stop: boolean; stopAfter: boolean }): Promise<void> {
  const dir = resolve(options.dir);
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  const statePath = join(dir, 'state.json');
  const state: DemoState = existsSync(statePath) ? JSON.parse(readFileSync(statePath, 'utf8')) : {};
  const save = () => writeFileSync(statePath, `${JSON.stringify(state, null, 2)}\n`);
  const say: Say = (line) => ctx.out.info(line);

  if (options.stop) {
    await stopServices(state, say);
    save();
    ctx.out.result({ stopped: true }, () => 'Demo services stopped. Their data stays in ' + dir + ' (delete it to start afresh).');
    return;
  }

  say(`pgwarden demo: state in ${dir}`);
  const started = Date.now();
  const temporal = await demoTemporal(dir, state, options.stopAfter, say);
  save();
  const database = await demoDatabase(dir, state, options.orders, say);
  save();
  const configFile = writeDemoConfig(dir, temporal, options.orders);
  const runs = await runDemoJobs(ctx, configFile, say);
  const { backup, restore, drill, verified } = runs;

  // The data itself, not only the counts: a fingerprint of every table, source against restore.
  const tables = CARTLY_TABLES.map((t) => `public.${t}`);
  const source = await withClient(pgEndpoint(database.url, 'demo'), 'demo verify', (c) => tableFingerprints(c, tables));
  const restored = await withClient(pgEndpoint(database.cluster.url(DB_USER, database.password, restore.target), 'demo'), 'demo verify', (c) => tableFingerprints(c, tables));
  const differing = tables.filter((t) => JSON.stringify(source.get(t)) !== JSON.stringify(restored.get(t)));

  const historyLink = `${temporal.ui}/namespaces/default/workflows?query=${encodeURIComponent(`PgwardenDatabase="${DB_NAME}"`)}`;
  const summary = {
    backupId: backup.backupId,
    databaseBytes: database.size,
    dumpedBytes: backup.rawBytes,
    storedBytes: backup.storedBytes,
    backupMs: backup.durationMs,
    restoreMs: restore.durationMs,
    rtoMs: restore.rtoMs,
    withinRto: restore.withinRto,
    tables: restore.tables,
    rows: restore.rows,
    rowCountsMatch: restore.rowCountsMatch,
    dataIdentical: differing.length === 0,
    restoredInto: restore.target,
    drillPassed: drill.passed,
    drillMs: drill.durationMs,
    drillRestoreMs: drill.parts[0]?.restoreMs,
    verifyMs: verified.durationMs,
    metricsServedAt: runs.metricsUrl,
    temporalUi: historyLink,
    totalMs: Date.now() - started,
  };
  if (options.stopAfter) await stopServices(state, say);
  save();
  ctx.out.result(summary, () =>
    [
      '',
      `Backup ${summary.backupId}: ${formatBytes(database.size)} database -> ${formatBytes(backup.storedBytes)} stored in ${formatDuration(backup.durationMs)}`,
      `Restore into "${restore.target}": ${formatDuration(restore.durationMs)}, ${restore.withinRto ? 'within' : 'OVER'} the production RTO of ${formatDuration(restore.rtoMs ?? 0)}`,
      `Row counts: ${restore.rowCountsMatch ? `all ${restore.tables} tables match (${restore.rows.toLocaleString('en-US')} rows)` : 'MISMATCH'}; ` +
        `table contents: ${differing.length === 0 ? 'identical to the source (md5 of every row)' : `DIFFER in ${differing.join(', ')}`}`,
      `Restore drill: ${drill.passed ? 'PASSED' : 'FAILED'} in ${formatDuration(drill.durationMs)} (restore ${formatDuration(drill.parts[0]?.restoreMs ?? 0)} of the RTO ${formatDuration(drill.parts[0]?.rtoMs ?? 0)}; ${drill.parts[0]?.assertions.filter((a) => a.passed).length ?? 0}/${drill.parts[0]?.assertions.length ?? 0} assertions; drill database dropped)`,
      `Verification: ${verified.ok ? 'every object intact' : 'DAMAGE found'} (${verified.backups.length} backup(s), ${formatBytes(verified.bytesRead)} read back and decrypted in ${formatDuration(verified.durationMs)})`,
      `Metrics were served at ${runs.metricsUrl} while the demo's worker ran, for example:`,
      ...runs.metricLines.map((line) => `  ${line}`),
      `  a worker serves them with: node dist/client/cli.js --config ${configFile} worker --metrics 127.0.0.1:9464`,
      `Histories in the Temporal UI: ${historyLink}`,
      options.stopAfter
        ? 'Services stopped (--stop-after).'
        : `Temporal and PostgreSQL keep running for you to look around; stop them with: npm run demo -- --stop`,
      `Try the CLI: node dist/client/cli.js --config ${configFile} backups list --db ${DB_NAME}`,
    ].join('\n'),
  );
  if (!drill.passed) throw new PgwardenError('Integrity', `The restore drill failed: ${drill.failures.join('; ')}`);
  if (differing.length > 0 || !restore.rowCountsMatch) throw new PgwardenError('Integrity', `The restored database differs from the source in ${differing.join(', ')}.`);
}

/** Step 1. Temporal: reuse the demo's server if it still runs, else start one (7233/8233 when free). */
async function demoTemporal(dir: string, state: DemoState, stopAfter: boolean, say: Say): Promise<NonNullable<DemoState['temporal']>> {
  const step = Date.now();
  if (state.temporal && (await temporalAnswers(state.temporal.address))) {
    say(`[1/6] Temporal dev server already running at ${state.temporal.address} (UI ${state.temporal.ui})`);
    return state.temporal;
  }
  const port = (await portIsFree(7233)) ? 7233 : await freePort();
  const uiPort = (await portIsFree(8233)) ? 8233 : await freePort();
  const server = await startDevServer({ dbFile: join(dir, 'temporal.db'), port, uiPort, logFile: join(dir, 'temporal.log'), detached: !stopAfter });
  state.temporal = { pid: server.pid, address: server.address, ui: server.ui };
  say(`[1/6] Temporal dev server started at ${server.address} (SQLite ${join(dir, 'temporal.db')}, UI ${server.ui}) in ${formatDuration(Date.now() - step)}`);
  return state.temporal;
}

/** Step 2. PostgreSQL with the Cartly-like database (created once, then reused); secrets in files beside the state. */
async function demoDatabase(dir: string, state: DemoState, orders: number, say: Say): Promise<DemoDatabase> {
  const step = Date.now();
  const password = secretFile(join(dir, 'postgres-password'));
  const cluster = await demoCluster(dir, state);
  const url = cluster.url(DB_USER, password, DB_NAME);
  writeFileSync(join(dir, 'database-url'), `${url}\n`, { mode: 0o600 });
  secretFile(join(dir, 'backup-passphrase'));
  const loaded = await withClient(pgEndpoint(cluster.url(DB_USER, password, 'postgres'), 'demo'), 'demo', async (client) => {
    const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [DB_NAME]);
    return (rowCount ?? 0) > 0;
  }).catch(async (error: unknown) => {
    if (!(error instanceof PgwardenError) || error.kind !== 'Config') throw error;
    return false;
  });
  if (!loaded) {
    say(`[2/6] PostgreSQL cluster on 127.0.0.1:${cluster.port}: loading the Cartly-like sample database (${orders.toLocaleString('en-US')} orders)…`);
    await withClient(pgEndpoint(cluster.url(DB_USER, password, 'postgres'), 'demo'), 'demo', (c) => c.query(`CREATE DATABASE ${DB_NAME}`));
    await withClient(pgEndpoint(url, 'demo'), 'demo load', async (client) => {
      await client.query(CARTLY_SCHEMA);
      for (const statement of cartlyDataStatements(orders)) await client.query(statement);
    });
  }
  const size = await withClient(pgEndpoint(url, 'demo'), 'demo', async (c) => Number((await c.query(`SELECT pg_database_size(current_database()) AS s`)).rows[0].s));
  say(`[2/6] PostgreSQL ${cluster.options.binDir.match(/\/(\d+)\/bin/)?.[1] ?? ''} on 127.0.0.1:${cluster.port}: database "${DB_NAME}", ${formatBytes(size)}${loaded ? '' : `, loaded in ${formatDuration(Date.now() - step)}`}`);
  return { cluster, password, url, size };
}

/** Step 3a. The configuration: secrets in files, never inline; the runbook's monthly restore test as drill assertions. */
function writeDemoConfig(dir: string, temporal: NonNullable<DemoState['temporal']>, orders: number): string {
  const configFile = join(dir, 'pgwarden.yaml');
  writeFileSync(
    configFile,
    `# Written by \`pgwarden demo\`. Secrets live in files next to it (or in environment variables), never here.\n` +
      stringify({
        temporal: { address: temporal.address, namespace: 'default', taskQueue: 'pgwarden-demo', ui: temporal.ui },
        encryption: { passphraseFile: join(dir, 'backup-passphrase') },
        repositories: { local: { type: 'fs', path: join(dir, 'repository') } },
        databases: {
          [DB_NAME]: {
            provider: 'postgres',
            environment: 'production',
            connection: { file: join(dir, 'database-url') },
            repositories: ['local'],
            // The runbook's monthly restore test (verify-backup.sh) as assertions of the restore drill.
            drill: {
              assertions: [
                { name: 'test users are there (runbook spot check)', sql: "SELECT id, email FROM users WHERE email LIKE '%@test.cartly%'", minRows: 1 },
                { table: 'orders', minRows: Math.max(100, Math.floor(orders)) },
                { name: 'orders per status as in production', sql: 'SELECT status, count(*) FROM orders GROUP BY status', equalsSource: true },
              ],
            },
          },
        },
      }),
  );
  return configFile;
}

/** Steps 3b-6. A worker in this process; backup, restore, drill and verification through Temporal; the metrics it served. */
async function runDemoJobs(ctx: CommandContext, configFile: string, say: Say): Promise<DemoRuns> {
  const config = loadConfig(configFile);
  const client = await connectClient(config);
  const warning = await ensureSearchAttributes(client, config.temporal.namespace);
  if (warning) say(`warning: ${warning}`);
  const connection = await connectWorker(config);
  const worker = await createWorker(config, connection);
  const running = worker.run();
  const metrics = await serveMetrics(config, '127.0.0.1:0');
  say(`[3/6] Worker running on task queue "${config.temporal.taskQueue}"; config ${configFile}; Prometheus metrics at ${metrics.url}`);
  const progress: Parameters<typeof waitFor>[1] = (s) => ctx.out.progress(s);
  try {
    // 4. Backup through Temporal.
    const backupHandle = await startBackup(client, config, { database: DB_NAME, kind: 'manual' });
    say(`[4/6] Backup: workflow ${backupHandle.workflowId}`);
    const backup = await waitFor<BackupResult>(backupHandle, progress);
    say(describeBackup(backup).replace(/^/gm, '      '));

    // 5. Restore it into a new database, through Temporal.
    const target = `${DB_NAME}_restored_${new Date().toISOString().slice(11, 19).replace(/:/g, '')}`;
    const restoreHandle = await startRestore(client, config, { database: DB_NAME, backup: backup.backupId, target });
    say(`[5/6] Restore of ${backup.backupId} into "${target}": workflow ${restoreHandle.workflowId}`);
    const restore = await waitFor<RestoreResult>(restoreHandle, progress);
    say(describeRestore(restore).replace(/^/gm, '      '));

    // 6. The runbook's monthly restore test: a drill restores the latest backup elsewhere, checks it, drops it.
    const drillHandle = await startDrill(client, config, { database: DB_NAME });
    say(`[6/6] Restore drill and integrity verification of ${DB_NAME}: workflow ${drillHandle.workflowId}`);
    const drill = await waitFor<DrillResult>(drillHandle, progress);
    say(describeDrill(drill).replace(/^/gm, '      '));
    // And the weekly integrity check: every object read back, checksummed and decrypted, nothing restored.
    const verifyHandle = await startVerify(client, config, { database: DB_NAME, backup: 'all', wal: false });
    const verified = await waitFor<VerifyResult>(verifyHandle, progress);
    say(describeVerify(verified).replace(/^/gm, '      '));
    const scraped = await (await fetch(metrics.url)).text();
    const metricLines = scraped.split('\n').filter((line) => /^pgwarden_(backup_last_success|drill_last_success|drill_last_restore)/.test(line));
    return { backup, restore, drill, verified, metricLines, metricsUrl: metrics.url };
  } finally {
    await metrics.close();
    worker.shutdown();
    await running.catch(() => undefined);
    await connection.close();
    await client.connection.close();
  }
}

async function demoCluster(dir: string, state: DemoState): Promise<LocalCluster> {
  const user = await clusterUser(process.env.PGWARDEN_CLUSTER_USER ?? 'pgwarden');
  const binDir = serverBinDir();
  // As root the cluster runs as an unprivileged user, whose home it lives in (the checkout may not be readable to it).
  const dataDir = state.postgres?.dataDir ?? (user ? join(user.home, `pgwarden-demo-${createHash('sha256').update(dir).digest('hex').slice(0, 8)}`, 'data') : join(dir, 'postgres'));
  const port = state.postgres?.port ?? (await freePort());
  const cluster = new LocalCluster({ dataDir, binDir, port, ...(user ? { user } : {}) });
  if (!state.postgres && existsSync(dataDir)) {
    // A cluster from a demo whose state was deleted: its password is gone with it. Start afresh.
    await cluster.stop('immediate');
    rmSync(dataDir, { recursive: true, force: true });
  }
  if (!existsSync(join(dataDir, 'PG_VERSION'))) {
    mkdirSync(join(dataDir, '..'), { recursive: true, mode: 0o755 });
    cluster.own(join(dataDir, '..'));
    await cluster.init(DB_USER, secretFile(join(dir, 'postgres-password')));
  }
  if (!(await cluster.running())) {
    rmSync(join(dataDir, 'postmaster.pid'), { force: true }); // left by a crash or a reboot
    await cluster.start();
  }
  state.postgres = { dataDir, port, binDir, ...(user ? { user: user.name } : {}) };
  return cluster;
}

async function stopServices(state: DemoState, say: (line: string) => void): Promise<void> {
  if (state.postgres) {
    const user = state.postgres.user ? await clusterUser(state.postgres.user) : undefined;
    await new LocalCluster({ dataDir: state.postgres.dataDir, binDir: state.postgres.binDir, port: state.postgres.port, ...(user ? { user } : {}) }).stop();
    say(`PostgreSQL on port ${state.postgres.port} stopped`);
  }
  if (state.temporal) {
    // Stopped means exited: the server writes its SQLite files in the demo folder while it shuts down, and a
    // folder removed (or a demo started) right after "stopped" must not meet it still writing.
    if (await stopProcess(state.temporal.pid)) say(`Temporal dev server (pid ${state.temporal.pid}) stopped`);
    delete state.temporal;
  }
}

/** SIGTERM, then waits for the process to exit (SIGKILL after 15 s); false when it was not running. */
async function stopProcess(pid: number): Promise<boolean> {
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return false; // already gone
  }
  for (const deadline = Date.now() + 15_000; processAlive(pid); await new Promise((resolve) => setTimeout(resolve, 100))) {
    if (Date.now() > deadline) {
      process.kill(pid, 'SIGKILL');
      break;
    }
  }
  return true;
}

/** A random secret kept in a file (mode 600), created on first use. */
function secretFile(path: string): string {
  if (!existsSync(path)) writeFileSync(path, `${randomBytes(24).toString('base64url')}\n`, { mode: 0o600 });
  return readFileSync(path, 'utf8').trim();
}
