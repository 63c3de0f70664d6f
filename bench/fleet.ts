// `npm run bench -- --fleet`: twenty databases whose daily backups fire at the same moment, as 20 schedules at
// 02:00 do, first with one worker, then with two on the same task queue. Measures the total time, the throughput,
// each worker's peak RSS and CPU, how long each database waited before its dump started, and which worker ran it.
// Nothing is timed in tests; results go to bench/results/fleet/.
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { Client } from '@temporalio/client';
import { clusterUser } from '../activities/postgres/cluster.js';
import { applySchedules, plannedSchedules } from '../client/schedules.js';
import { startCluster } from '../test/harness/postgres.js';
import { startTemporal } from '../test/harness/temporal.js';
import { backupWorkflowId } from '../domain/ids.js';
import type { BackupResult } from '../domain/backup.js';
import { maxConcurrentJobs } from '../worker/worker.js';
import { CpuMeter } from './cpu.js';
import { databaseSizes, loadBenchData, ordersForSize } from './generate.js';
import { machineInfo, type MachineInfo } from './machine.js';
import { resetPeak, RssSampler } from './rss.js';
import { startBenchS3 } from './s3.js';
import { startPgwardenWorker, type PgwardenWorker } from './tools/pgwarden.js';
import { Cleanup, fmtBytes, fmtSeconds, log, MB } from './util.js';
import type { FleetOptions } from './context.js';
import { sleep } from '../activities/sleep.js';


interface DatabaseRun {
  database: string;
  bytes: number;
  /** From the moment the schedules fired: the dump activity started, and the backup was complete. */
  waitMs: number;
  doneMs: number;
  dumpMs: number;
  storedBytes: number;
  /** Which worker process ran the dump (its pid, from the activity's start in the workflow history). */
  worker: string;
}

interface Phase {
  workers: number;
  totalMs: number;
  databaseBytes: number;
  /** Database MB per second of the whole fleet. */
  mbPerSecond: number;
  longestWaitMs: number;
  medianWaitMs: number;
  perWorker: Array<{ pid: number; peakRssBytes: number; cpuMs: number; dumps: number }>;
  runs: DatabaseRun[];
}

export interface FleetResults {
  startedAt: string;
  finishedAt: string;
  options: FleetOptions;
  machine: MachineInfo;
  maxConcurrentJobs: number;
  loadMs: number;
  phases: Phase[];
  loadAverageAtEnd?: string;
}

/** Sizes from minMb to maxMb, evenly on a log scale: many small databases, a few large ones. */
export function fleetSizes(count: number, minMb: number, maxMb: number): number[] {
  return Array.from({ length: count }, (_, i) => Math.round(minMb * (maxMb / minMb) ** (count === 1 ? 1 : i / (count - 1))));
}

export async function runFleet(options: FleetOptions): Promise<FleetResults> {
  const cleanup = new Cleanup();
  const stopOnSignal = () => void cleanup.run().finally(() => process.exit(130));
  process.once('SIGINT', stopOnSignal);
  process.once('SIGTERM', stopOnSignal);
  try {
    return await fleet(options, cleanup);
  } finally {
    log('cleaning up');
    await cleanup.run();
  }
}

async function fleet(options: FleetOptions, cleanup: Cleanup): Promise<FleetResults> {
  const startedAt = new Date().toISOString();
  mkdirSync(options.tmpDir, { recursive: true });
  process.env.TMPDIR = options.tmpDir;
  const root = mkdtempSync(join(options.tmpDir, 'pgwarden-fleet-'));
  chmodSync(root, 0o755);
  cleanup.add(`remove ${root}`, () => (options.keepTemp ? log(`kept ${root}`) : rmSync(root, { recursive: true, force: true })));
  const passphraseFile = join(root, 'passphrase');
  writeFileSync(passphraseFile, `${randomBytes(24).toString('base64url')}\n`, { mode: 0o600 });

  log('starting Temporal dev server, versitygw (TLS) and a PostgreSQL cluster');
  const [temporal, s3, cluster] = await Promise.all([
    startTemporal().then((env) => (cleanup.add('stop Temporal', () => env.teardown()), env)),
    startBenchS3(root).then((s) => (cleanup.add('stop versitygw', () => s.stop()), s)),
    startCluster(['max_wal_size = 4GB', 'max_connections = 200']).then((c) => (cleanup.add('stop cluster', () => c.stop()), c)),
  ]);
  await s3.createBucket('pgwarden-fleet');
  await clusterUser(process.env.PGWARDEN_CLUSTER_USER ?? 'pgwarden');
  const postgres = (await cluster.query<{ v: string }>('postgres', 'SELECT version() AS v')).rows[0]!.v.split(',')[0]!;

  // The fleet: db01 (smallest) … db20 (largest).
  const sizes = fleetSizes(options.databases, options.minMb, options.maxMb);
  const names = sizes.map((_, i) => `db${String(i + 1).padStart(2, '0')}`);
  log(`loading ${names.length} databases of ${sizes.join(', ')} MB…`);
  const loadStarted = Date.now();
  const bytes = new Map<string, number>();
  for (const [i, name] of names.entries()) {
    await cluster.query('postgres', `CREATE DATABASE ${name}`);
    await loadBenchData(cluster.url(name), ordersForSize(sizes[i]!));
    bytes.set(name, (await databaseSizes(cluster.url(name))).databaseBytes);
  }
  const loadMs = Date.now() - loadStarted;
  const total = [...bytes.values()].reduce((a, b) => a + b, 0);
  log(`loaded ${fmtBytes(total)} in ${fmtSeconds(loadMs)}`);

  const ctx = {
    temporalAddress: temporal.address,
    passphraseFile,
    s3,
    bucket: 'pgwarden-fleet',
    source: cluster,
    target: cluster,
    database: names[0]!,
  };
  const databases = Object.fromEntries(names.map((n) => [n, cluster.url(n)]));
  const start = async (i: number): Promise<PgwardenWorker> => {
    const dir = mkdtempSync(join(root, `worker${i}-`));
    const worker = await startPgwardenWorker(ctx, dir, 'pgwarden-fleet', { databases });
    cleanup.add(`stop worker ${i}`, () => worker.stop());
    log(`worker ${i}: pid ${worker.pid} (log ${worker.logFile})`);
    return worker;
  };
  const first = await start(1);
  const applied = await applySchedules(first.client, first.config, plannedSchedules(first.config));
  log(`schedules applied: ${applied.length} (${names.length} daily among them)`);
  const machine = await machineInfo(postgres, { versitygw: s3.version });

  const phases: Phase[] = [];
  phases.push(await firePhase(first.client, [first], names, bytes));
  const second = await start(2);
  phases.push(await firePhase(first.client, [first, second], names, bytes));

  const results: FleetResults = { startedAt, finishedAt: new Date().toISOString(), options, machine, maxConcurrentJobs: maxConcurrentJobs(first.config), loadMs, phases };
  try {
    results.loadAverageAtEnd = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  } catch {
    /* not Linux */
  }
  return results;
}

/** Triggers every database's daily schedule at once and waits until every one of those backups is complete. */
async function firePhase(client: Client, workers: PgwardenWorker[], names: string[], bytes: Map<string, number>): Promise<Phase> {
  log(`firing ${names.length} daily schedules at once, ${workers.length} worker(s)…`);
  for (const w of workers) resetPeak(w.pid);
  const samplers = workers.map((w) => new RssSampler(w.pid).start());
  const cpus = workers.map((w) => new CpuMeter(w.pid));
  const fired = Date.now();
  await Promise.all(names.map((name) => client.schedule.getHandle(`pgwarden-${name}-daily`).trigger()));
  const runs = await Promise.all(names.map((name) => backupAfter(client, name, fired, bytes.get(name) ?? 0)));
  const totalMs = Math.max(...runs.map((r) => r.doneMs));
  const peaks = samplers.map((s) => s.stop());
  const waits = runs.map((r) => r.waitMs).sort((a, b) => a - b);
  const databaseBytes = runs.reduce((sum, r) => sum + r.bytes, 0);
  const phase: Phase = {
    workers: workers.length,
    totalMs,
    databaseBytes,
    mbPerSecond: databaseBytes / MB / (totalMs / 1000),
    longestWaitMs: waits.at(-1)!,
    medianWaitMs: waits[Math.floor(waits.length / 2)]!,
    perWorker: workers.map((w, i) => ({
      pid: w.pid,
      peakRssBytes: peaks[i]!.processHwm ?? peaks[i]!.processRssSampled,
      cpuMs: cpus[i]!.stop() ?? 0,
      dumps: runs.filter((r) => r.worker === String(w.pid)).length,
    })),
    runs,
  };
  log(
    `${workers.length} worker(s): all ${runs.length} backups in ${fmtSeconds(totalMs)} (${phase.mbPerSecond.toFixed(1)} MB/s), longest wait ${fmtSeconds(phase.longestWaitMs)}; ` +
      phase.perWorker.map((w) => `pid ${w.pid}: ${w.dumps} dumps, peak RSS ${(w.peakRssBytes / 1024 ** 2).toFixed(0)} MiB`).join('; '),
  );
  return phase;
}

/** The backup of `name` that the schedule started after `fired`, once complete: when its dump began and ended, and where. */
async function backupAfter(client: Client, name: string, fired: number, databaseBytes: number): Promise<DatabaseRun> {
  const handle = client.workflow.getHandle(backupWorkflowId(name));
  for (;;) {
    const described = await handle.describe().catch(() => undefined);
    if (described && described.startTime.getTime() >= fired - 1_000 && described.status.name !== 'RUNNING') {
      if (described.status.name !== 'COMPLETED') throw new Error(`backup of ${name} ended ${described.status.name}`);
      const run = client.workflow.getHandle(backupWorkflowId(name), described.runId);
      const result = (await run.result()) as BackupResult;
      const history = await run.fetchHistory();
      const events = history.events ?? [];
      const scheduled = events.find((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'dumpLogical');
      const startedEvent = events.find((e) => e.activityTaskStartedEventAttributes && String(e.activityTaskStartedEventAttributes.scheduledEventId) === String(scheduled?.eventId));
      const identity = startedEvent?.activityTaskStartedEventAttributes?.identity ?? '';
      const finished = Date.parse(result.finishedAt);
      return {
        database: name,
        bytes: databaseBytes,
        waitMs: finished - result.dumpMs - fired,
        doneMs: finished - fired,
        dumpMs: result.dumpMs,
        storedBytes: result.storedBytes,
        worker: identity.split('@')[0] ?? identity,
      };
    }
    await sleep(500);
  }
}

export function renderFleet(results: FleetResults): string {
  const m = results.machine;
  const lines = [
    '# pgwarden fleet benchmark',
    '',
    `${results.startedAt} → ${results.finishedAt}. ${results.options.databases} databases (Cartly schema, bench/data.ts) of ${results.options.minMb} to ${results.options.maxMb} MB, ` +
      `loaded in ${fmtSeconds(results.loadMs)}; one PostgreSQL cluster, one S3 server (versitygw, https), a Temporal dev server. ` +
      `\`pgwarden schedules apply\`, then every database's daily schedule triggered at the same moment: first with one worker, then with two workers on the same task queue. ` +
      `Each worker runs at most ${results.maxConcurrentJobs} dumps at once (worker.maxConcurrentJobs, here the default from the machine).`,
    '',
    `**Machine**: ${m.cpuModel}, ${m.cores} cores, ${(m.ramBytes / 1024 ** 3).toFixed(1)} GiB RAM, Linux ${m.kernel} (${m.os}); ${m.postgres}. ` +
      `Load average at start: ${m.loadAverageAtStart}${results.loadAverageAtEnd ? `, at the end: ${results.loadAverageAtEnd}` : ''}.`,
    '',
    '| workers | databases | total database size | total time (fire to last backup complete) | throughput | longest wait (fire to dump start) | median wait | per worker: dumps, peak RSS (VmHWM), CPU |',
    '| ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |',
    ...results.phases.map(
      (p) =>
        `| ${p.workers} | ${p.runs.length} | ${fmtBytes(p.databaseBytes)} | ${fmtSeconds(p.totalMs)} | ${p.mbPerSecond.toFixed(1)} MB/s | ${fmtSeconds(p.longestWaitMs)} | ${fmtSeconds(p.medianWaitMs)} | ` +
        p.perWorker.map((w, i) => `#${i + 1}: ${w.dumps} dumps, ${(w.peakRssBytes / 1024 ** 2).toFixed(0)} MiB, ${(w.cpuMs / 1000).toFixed(1)} core-s`).join('; ') +
        ' |',
    ),
    '',
    '## Each database',
    '',
    `| database | size | ${results.phases.map((p) => `${p.workers} worker(s): wait, done, dump, worker`).join(' | ')} |`,
    `| --- | ---: |${results.phases.map(() => ' --- |').join('')}`,
    ...results.phases[0]!.runs.map((r) => {
      const cells = results.phases.map((p) => {
        const run = p.runs.find((x) => x.database === r.database)!;
        const worker = p.perWorker.findIndex((w) => String(w.pid) === run.worker);
        return `${fmtSeconds(run.waitMs)}, ${fmtSeconds(run.doneMs)}, ${fmtSeconds(run.dumpMs)}, #${worker + 1}`;
      });
      return `| ${r.database} | ${fmtBytes(r.bytes)} | ${cells.join(' | ')} |`;
    }),
    '',
    'Wait: from the moment the schedules fired to the start of the database\'s dump (its backup\'s finish time minus the dump\'s duration); ' +
      'done: to the backup complete (manifest written). The worker that ran each dump comes from the workflow history (the activity\'s start). ' +
      'Peak RSS: the worker process\'s own VmHWM, reset when the schedules fire; CPU: its user + system time during the phase.',
    '',
  ];
  return lines.join('\n');
}

export function writeFleet(results: FleetResults): string {
  const dir = results.options.outDir;
  mkdirSync(dir, { recursive: true });
  const stamp = results.startedAt.replace(/[:]/g, '').replace(/\.\d+Z$/, 'Z');
  const markdown = renderFleet(results);
  for (const name of [`${stamp}`, 'latest']) {
    writeFileSync(join(dir, `${name}.md`), markdown);
    writeFileSync(join(dir, `${name}.json`), `${JSON.stringify(results, null, 2)}\n`);
  }
  return markdown;
}
