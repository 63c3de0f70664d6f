// pgwarden's logical backup and restore, through Temporal, with the worker in a child process of its own
// (`node dist/client/cli.js --config FILE worker`) so that its memory is measured apart from everything else.
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Client } from '@temporalio/client';
import { stringify } from 'yaml';
import { loadConfig } from '../../config/load.js';
import type { Config } from '../../config/schema.js';
import { connectClient } from '../../worker/temporal.js';
import { startBackup, startRestore, workersPolling, type BackupResult, type RestoreInput, type RestoreResult } from '../../client/api.js';
import { waitFor } from '../../client/watch.js';
import type { BenchContext, BenchTool, Measurement } from '../context.js';
import { BENCH_TABLE_RESTORE } from '../data.js';
import { CpuMeter } from '../cpu.js';
import { memoryOf, resetPeak, RssSampler } from '../rss.js';
import { log, now, settle } from '../util.js';
import { sleep } from '../../activities/sleep.js';

export const PGWARDEN_DB = 'cartly'; // the database's name in pgwarden.yaml (it is also its name on the server)
const CLI = fileURLToPath(new URL('../../client/cli.js', import.meta.url));

export interface PgwardenWorker {
  pid: number;
  config: Config;
  configFile: string;
  client: Client;
  logFile: string;
  stop(): Promise<void>;
}

/**
 * Writes a pgwarden.yaml over the benchmark's servers (secrets in files and in the worker's environment, never in
 * the file) and starts `pgwarden worker` with it; resolves once the worker polls its task queue.
 */
export async function startPgwardenWorker(
  ctx: Pick<BenchContext, 'temporalAddress' | 'passphraseFile' | 's3' | 'bucket' | 'source' | 'target' | 'database'>,
  dir: string,
  taskQueue: string,
  options: { passphraseFile?: string; pitr?: Record<string, string>; cli?: string; databases?: Record<string, string> } = {},
): Promise<PgwardenWorker> {
  const secret = (name: string, value: string) => {
    const path = join(dir, name);
    writeFileSync(path, `${value}\n`, { mode: 0o600 });
    return path;
  };
  const configFile = join(dir, 'pgwarden.yaml');
  writeFileSync(
    configFile,
    stringify({
      temporal: { address: ctx.temporalAddress, namespace: 'default', taskQueue },
      encryption: { passphraseFile: options.passphraseFile ?? ctx.passphraseFile },
      repositories: {
        s3: {
          type: 's3',
          endpoint: ctx.s3.endpoint,
          region: 'us-east-1',
          bucket: ctx.bucket,
          prefix: 'pgwarden',
          forcePathStyle: true,
          accessKeyIdEnv: 'BENCH_S3_ACCESS_KEY_ID',
          secretAccessKeyEnv: 'BENCH_S3_SECRET_ACCESS_KEY',
        },
      },
      databases: options.databases
        ? // The fleet: many databases on one server, each with the runbook's schedules.
          Object.fromEntries(
            Object.entries(options.databases).map(([name, url]) => [name, { connection: { file: secret(`${name}-url`, url) }, environment: 'production', repositories: ['s3'] }]),
          )
        : {
            [PGWARDEN_DB]: {
              connection: { file: secret('source-url', ctx.source.url(ctx.database)) },
              restoreConnection: { file: secret('restore-url', ctx.target.url('postgres')) },
              environment: 'production',
              repositories: ['s3'],
              ...(options.pitr ? { pitr: options.pitr } : {}),
            },
          },
    }),
  );
  const config = loadConfig(configFile);
  const logFile = join(dir, 'worker.log');
  const out = openSync(logFile, 'a');
  // BENCH_WORKER_CPU_PROF=DIR: the worker writes a V8 CPU profile there when it stops (node --cpu-prof).
  const profile = process.env.BENCH_WORKER_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_WORKER_CPU_PROF}`] : [];
  // BENCH_WORKER_NODE_ARGS: more node options for the worker (V8 heap settings under study, say).
  const extra = (process.env.BENCH_WORKER_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const child: ChildProcess = spawn(process.execPath, [...profile, ...extra, options.cli ?? CLI, '--config', configFile, 'worker'], {
    stdio: ['ignore', out, out],
    env: {
      ...process.env,
      // The worker's production settings (Dockerfile, README "Running in production"): fewer malloc arenas and
      // a small young generation keep its resident memory flat while data streams through it.
      MALLOC_ARENA_MAX: '2',
      NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --max-semi-space-size=2`.trim(),
      BENCH_S3_ACCESS_KEY_ID: ctx.s3.accessKeyId,
      BENCH_S3_SECRET_ACCESS_KEY: ctx.s3.secretAccessKey,
      NODE_EXTRA_CA_CERTS: caBundle(ctx, dir), // the S3 server's self-signed certificate
      PGWARDEN_LOG_LEVEL: process.env.PGWARDEN_LOG_LEVEL ?? 'WARN',
    },
  });
  closeSync(out);
  let exited: number | null | undefined;
  child.once('exit', (code) => (exited = code));
  const tail = () => readFileSync(logFile, 'utf8').split('\n').slice(-20).join('\n');
  const stopChild = async () => {
    if (exited !== undefined) return;
    const gone = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    const timeout = setTimeout(() => child.kill('SIGKILL'), 30_000);
    await gone;
    clearTimeout(timeout);
  };
  let client: Client | undefined;
  try {
    client = await connectClient(config);
    const deadline = Date.now() + 60_000;
    for (;;) {
      if (exited !== undefined) throw new Error(`pgwarden worker exited (code ${exited}) before polling:\n${tail()}`);
      if (await workersPolling(client, config)) {
        // workersPolling answers true when it cannot tell: make sure it really is ours that polls.
        const response = await client.workflowService.describeTaskQueue({ namespace: 'default', taskQueue: { name: taskQueue, kind: 1 }, taskQueueType: 1 });
        if ((response.pollers ?? []).length > 0) break;
      }
      if (Date.now() > deadline) throw new Error(`pgwarden worker does not poll task queue ${taskQueue} after 60 s:\n${tail()}`);
      await sleep(250);
    }
  } catch (error) {
    await stopChild();
    await client?.connection.close().catch(() => undefined);
    throw error;
  }
  const connected = client;
  return {
    pid: child.pid!,
    config,
    configFile,
    client: connected,
    logFile,
    stop: async () => {
      await stopChild();
      await connected.connection.close().catch(() => undefined);
    },
  };
}

/** The S3 server's certificate, after whatever NODE_EXTRA_CA_CERTS already named (it takes one file only). */
export function caBundle(ctx: Pick<BenchContext, 's3'>, dir: string): string {
  const existing = process.env.NODE_EXTRA_CA_CERTS;
  if (!existing || !existsSync(existing)) return ctx.s3.caFile;
  const bundle = join(dir, 'ca-bundle.pem');
  writeFileSync(bundle, `${readFileSync(existing, 'utf8').trimEnd()}\n${readFileSync(ctx.s3.caFile, 'utf8')}`);
  return bundle;
}

export function pgwardenLogicalTool(): BenchTool {
  return logicalTool({
    name: 'pgwarden',
    label: 'pgwarden logical',
    taskQueue: 'pgwarden-bench',
    comparesTo: ['runbook', 'pgbackrest', 'pgdump-dir', 'pgwarden-before'],
    tableRestore: BENCH_TABLE_RESTORE,
  });
}

/**
 * The same rounds with a worker built from another commit of pgwarden (`--before REF`): the worker's CPU per GB
 * and the times before and after, measured in one run. Its backups use its own data path and format.
 */
export function pgwardenBeforeTool(ref: string, build: (ctx: BenchContext) => Promise<string>): BenchTool {
  return logicalTool({
    name: 'pgwarden-before',
    label: `pgwarden logical before (${ref})`,
    taskQueue: 'pgwarden-bench-before',
    build,
    description: `The same rounds with a worker of pgwarden at ${ref}, built from the repository's history by the benchmark (node_modules of this checkout), in its own process like the other.`,
  });
}

interface LogicalToolSpec {
  name: string;
  label: string;
  taskQueue: string;
  comparesTo?: string[];
  build?: (ctx: BenchContext) => Promise<string>;
  description?: string;
  /**
   * "schema.table" to restore alone from each round's backup, after the full restore (`restore --table`). Not for
   * `--before`: a worker of an older commit may not know the restore's `tables` field.
   */
  tableRestore?: string;
}

/** One restore through the worker, as a user waits for it, with the worker's memory and CPU over it. */
interface MeasuredRestore {
  restore: RestoreResult;
  wallMs: number;
  workerPeakRssBytes: number;
  treePeakRssBytes: number;
  workerCpuMs?: number;
  workerRssBeforeBytes: number;
}

/** startRestore + waitFor, timed by the client like the backup; the worker's peak is reset first so it is this restore's. */
async function measureRestore(w: PgwardenWorker, input: RestoreInput): Promise<MeasuredRestore> {
  const workerRssBeforeBytes = memoryOf(w.pid)?.rss ?? 0;
  resetPeak(w.pid);
  const sampler = new RssSampler(w.pid).start();
  const cpu = new CpuMeter(w.pid);
  const started = now();
  let restore: RestoreResult;
  try {
    restore = await waitFor<RestoreResult>(await startRestore(w.client, w.config, input));
  } catch (error) {
    sampler.stop(); // else it would go on polling /proc until the benchmark exits
    throw error;
  }
  const wallMs = now() - started;
  const workerCpuMs = cpu.stop();
  const mem = sampler.stop();
  return {
    restore,
    wallMs,
    workerPeakRssBytes: mem.processHwm ?? mem.processRssSampled,
    treePeakRssBytes: mem.treeRssSampled,
    ...(workerCpuMs !== undefined ? { workerCpuMs } : {}),
    workerRssBeforeBytes,
  };
}

const countRows = async (cluster: BenchContext['source'], database: string, table: string) =>
  Number((await cluster.query<{ n: string }>(database, `SELECT count(*) AS n FROM ${table}`)).rows[0]!.n);

/**
 * `restore --table`: the one table back from the round's backup into a new database (the same workflow and path as
 * the full restore, with `tables`), its rows counted against the source's, the database dropped after. The table's
 * share of the database (pg_total_relation_size ÷ pg_database_size) goes into the row, so the report says honestly
 * how big a part of the data came back.
 */
async function measureTableRestore(ctx: BenchContext, w: PgwardenWorker, tool: string, round: number, backupId: string, table: string): Promise<Measurement> {
  const target = `${ctx.database}_${tool.replace(/-/g, '_')}_table_r${round}`;
  const tableBytes = Number(
    (await ctx.source.query<{ n: string }>(ctx.database, 'SELECT pg_total_relation_size($1::regclass) AS n', [table])).rows[0]!.n,
  );
  const m = await measureRestore(w, { database: PGWARDEN_DB, backup: backupId, target, tables: [table] });
  const { restore } = m;
  if (!restore.rowCountsMatch) throw new Error(`pgwarden restore --table ${table} into ${target}: row counts differ from the manifest: ${JSON.stringify(restore.mismatches)}`);
  if (restore.tables !== 1) throw new Error(`pgwarden restore --table ${table} into ${target}: ${restore.tables} tables restored, not the one asked for`);
  const [expected, actual] = [await countRows(ctx.source, ctx.database, table), await countRows(ctx.target, target, table)];
  if (actual !== expected) {
    throw new Error(`pgwarden restore --table ${table} into ${target}: ${actual} rows, the source has ${expected}; ${target} is left on the restore cluster to look at`);
  }
  await ctx.target.query('postgres', `DROP DATABASE IF EXISTS ${target} WITH (FORCE)`);
  return {
    tool,
    operation: 'table-restore',
    round,
    wallMs: m.wallMs,
    phases: { 'restore activity': restore.restoreMs, 'workflow (start to verified)': restore.durationMs },
    workerPeakRssBytes: m.workerPeakRssBytes,
    treePeakRssBytes: m.treePeakRssBytes,
    ...(m.workerCpuMs !== undefined ? { workerCpuMs: m.workerCpuMs } : {}),
    notes: {
      table,
      tableBytes,
      tableShare: tableBytes / ctx.databaseBytes,
      rows: restore.rows,
      tables: restore.tables,
      workerRssBeforeBytes: m.workerRssBeforeBytes,
    },
  };
}

function logicalTool(spec: LogicalToolSpec): BenchTool {
  let dir = '';
  let worker: PgwardenWorker | undefined;
  const tool = spec.name;
  return {
    name: spec.name,
    label: spec.label,
    ...(spec.comparesTo ? { comparesTo: spec.comparesTo } : {}),
    describe: () =>
      spec.description ??
      'backupWorkflow / restoreWorkflow started with startBackup/startRestore (client/api.ts) and followed with waitFor (client/watch.ts); ' +
      'worker in its own process (MALLOC_ARENA_MAX=2, --max-semi-space-size=2, as the Dockerfile runs it): 2 streams from one snapshot, ' +
      'every table copied out by psql (big tables in 128 MiB block ranges, small ones grouped), pg_dump for the schema, sequences and large ' +
      'objects; each stream psql | dd | zstd -1 | gpg AES-256 (processes, one shell per stream), sha256 in the worker, multipart upload ' +
      '(5 MiB parts, 2 at once, reused buffers, CRC32 per part, kept-alive connections). Restore: download, sha256 check, gpg -d | zstd -d | psql/pg_restore (2 at once) into a ' +
      'staging database on the restore server, post-data with pg_restore -j 2, COPY row counts checked, ANALYZE, rename. ' +
      'Wall time is measured by the client, from start to result.' +
        (spec.tableRestore
          ? ` After the full restore, each round restores ${spec.tableRestore} alone from the same backup (restore --table: the same workflow with \`tables\`, ` +
            'only the objects that hold its rows downloaded; its indexes, constraints and sequence) into another new database, counts its rows ' +
            'against the source\'s and drops it: the "restore --table" row.'
          : ''),

    async setup(ctx) {
      const cli = spec.build ? await spec.build(ctx) : undefined;
      dir = mkdtempSync(join(ctx.root, `${spec.name}-`));
      worker = await startPgwardenWorker(ctx, dir, spec.taskQueue, cli ? { cli } : {});
      log(`${spec.label}: worker pid ${worker.pid} polls task queue "${spec.taskQueue}" (log ${worker.logFile})`);
    },

    async round(ctx, round): Promise<Measurement[]> {
      const w = worker!;
      const rssBeforeBackup = memoryOf(w.pid)?.rss ?? 0;
      resetPeak(w.pid);
      let sampler = new RssSampler(w.pid).start();
      let cpu = new CpuMeter(w.pid);
      const backupStart = now();
      const backupHandle = await startBackup(w.client, w.config, { database: PGWARDEN_DB, kind: 'manual' });
      const backup = await waitFor<BackupResult>(backupHandle);
      const backupMs = now() - backupStart;
      let workerCpuMs = cpu.stop();
      let mem = sampler.stop();
      const backupRow: Measurement = {
        tool,
        operation: 'backup',
        round,
        wallMs: backupMs,
        phases: { 'dump activity': backup.dumpMs, 'workflow (start to manifest)': backup.durationMs },
        storedBytes: backup.storedBytes,
        workerPeakRssBytes: mem.processHwm ?? mem.processRssSampled,
        treePeakRssBytes: mem.treeRssSampled,
        ...(workerCpuMs !== undefined ? { workerCpuMs } : {}),
        notes: {
          backupId: backup.backupId,
          rawBytes: backup.rawBytes,
          workerRssBeforeBytes: rssBeforeBackup,
          ...(backup.firstByteMs !== undefined ? { firstByteMs: backup.firstByteMs } : {}),
        },
      };

      const target = `${ctx.database}_${tool.replace(/-/g, '_')}_r${round}`;
      const full = await measureRestore(w, { database: PGWARDEN_DB, backup: backup.backupId, target });
      const { restore } = full;
      if (!restore.rowCountsMatch) throw new Error(`pgwarden restore into ${target}: row counts differ: ${JSON.stringify(restore.mismatches)}`);
      await ctx.target.query('postgres', `DROP DATABASE IF EXISTS ${target} WITH (FORCE)`);
      const restoreRow: Measurement = {
        tool,
        operation: 'restore',
        round,
        wallMs: full.wallMs,
        phases: { 'restore activity': restore.restoreMs, ...restoreSteps(restore.phasesMs), 'workflow (start to verified)': restore.durationMs },
        workerPeakRssBytes: full.workerPeakRssBytes,
        treePeakRssBytes: full.treePeakRssBytes,
        ...(full.workerCpuMs !== undefined ? { workerCpuMs: full.workerCpuMs } : {}),
        notes: { rows: restore.rows, tables: restore.tables, workerRssBeforeBytes: full.workerRssBeforeBytes },
      };
      if (!spec.tableRestore) return [backupRow, restoreRow];
      // After the full restore and before the next tool's round, so it meets the same page cache and the same noise.
      await settle();
      return [backupRow, restoreRow, await measureTableRestore(ctx, w, tool, round, backup.backupId, spec.tableRestore)];
    },

    async teardown() {
      await worker?.stop();
      worker = undefined;
      if (dir) rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The restore activity's own steps (a worker of an older build reports none), shown under it. */
function restoreSteps(phasesMs: Record<string, number> | undefined): Record<string, number> {
  return Object.fromEntries(Object.entries(phasesMs ?? {}).map(([step, ms]) => [`restore activity: ${step}`, ms]));
}
