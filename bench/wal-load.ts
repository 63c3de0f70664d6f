// Measures the WAL archive under a write-heavy pgbench load (the real RPO), the cost of wal-push per segment,
// and a point-in-time restore of a pgbench database: `node dist/bench/wal-load.js [--scale 50] [--seconds 60]`.
// Then the replay split (issue 22): PostgreSQL's redo of the same WAL alone, from a local directory
// (restore_command = cp), beside pgwarden's fetch path alone (fetch, sha256, decrypt, decompress) and its PITR.
// Not part of `npm test`. Writes wal-load.json into bench/results/ (or --out DIR) and prints a summary.
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync, copyFileSync, mkdtempSync } from 'node:fs';
import { cpus, loadavg, totalmem, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa, execaSync } from 'execa';
import { serverBinDir } from '../activities/postgres/binaries.js';
import { freePort, LocalCluster } from '../activities/postgres/cluster.js';
import { inParallel } from '../activities/progress.js';
import { fetchWalBytes } from '../activities/wal/archive.js';
import { openArchive } from '../activities/wal/open.js';
import { libpqEnv, pgEndpoint } from '../activities/postgres/connection.js';
import { startBaseBackup, startPitr } from '../client/api.js';
import { waitFor } from '../client/watch.js';
import type { BaseBackupResult } from '../domain/basebackup.js';
import type { PitrResult } from '../domain/pitr.js';
import { recoveryState } from '../activities/pitr/recover.js';
import { CLI, startArchivingCluster } from '../test/harness/archiving.js';
import { SUPERUSER } from '../test/harness/postgres.js';
import { startStack } from '../test/harness/stack.js';
import { sleep } from '../activities/sleep.js';

const args = process.argv.slice(2);
const option = (name: string, fallback: number) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const SCALE = option('scale', 50);
const SECONDS = option('seconds', 60);
const CLIENTS = option('clients', 4);
const outIndex = args.indexOf('--out');
const results = outIndex >= 0 ? args[outIndex + 1]! : fileURLToPath(new URL('../../bench/results/', import.meta.url));

const percentile = (values: number[], p: number) => {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
};
const round = (n: number, digits = 2) => Math.round(n * 10 ** digits) / 10 ** digits;
const log = (line: string) => console.log(`[${new Date().toISOString().slice(11, 19)}] ${line}`);
const MiB = 2 ** 20;

let ticks: number | undefined;
/** CPU time of this process and of the children it waited for (gpg and zstd of each fetch), in milliseconds. */
function cpuWithChildrenMs(): number {
  ticks ??= Number(execaSync('getconf', ['CLK_TCK']).stdout) || 100;
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // utime, stime, cutime, cstime: fields 14-17
  return ((Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) * 1000) / ticks;
}

const stack = await startStack();
const source = await startArchivingCluster(stack, 'bench', { extraConf: ['max_wal_size = 4GB', 'checkpoint_timeout = 15min', 'shared_buffers = 512MB', 'synchronous_commit = on'] });
await stack.worker(source.config);
const env = { ...libpqEnv(pgEndpoint(source.pg.url('postgres'), 'bench')) };
const bin = serverBinDir();
const pgWal = join(source.pg.cluster.dataDir, 'pg_wal');
const objects = join(stack.s3.root, stack.bucket, 'backups', 'bench', 'wal');
const report: Record<string, unknown> = {
  machine: { cpu: cpus()[0]?.model, cores: cpus().length, memoryGiB: round(totalmem() / 2 ** 30, 1), node: process.version },
  scale: SCALE,
  seconds: SECONDS,
  clients: CLIENTS,
  // The machine may be shared: its load when the run started and ended (1, 5, 15 minutes).
  loadAverage: { start: loadavg().map((l) => round(l)) } as { start: number[]; end?: number[] },
};

/** The plain copy for the redo measurement: its base backup in `base`, the WAL it replays in `wal`. */
let redoRoot: string | undefined;
const localBase = () => join(redoRoot!, 'base');

try {
  log(`pgbench -i -s ${SCALE}`);
  let t = Date.now();
  await execa(join(bin, 'pgbench'), ['-i', '-s', String(SCALE), '-q', 'postgres'], { env });
  const dbBytes = Number((await source.pg.query<{ s: string }>('postgres', 'SELECT pg_database_size(current_database())::text AS s')).rows[0]!.s);
  report.databaseBytes = dbBytes;
  log(`loaded ${round(dbBytes / 2 ** 20)} MiB in ${round((Date.now() - t) / 1000)} s`);

  t = Date.now();
  const base = await waitFor<BaseBackupResult>(await startBaseBackup(stack.env.client, source.config, { database: 'bench' }));
  report.baseBackup = { ms: Date.now() - t, copyMs: base.copyMs, walWaitMs: base.walWaitMs, rawBytes: base.rawBytes, storedBytes: base.storedBytes, mbPerSecond: round(dbBytes / 2 ** 20 / (base.copyMs / 1000)) };
  log(`base backup: ${round(base.copyMs / 1000)} s copy, ${round(base.rawBytes / 2 ** 20)} MiB -> ${round(base.storedBytes / 2 ** 20)} MiB`);

  // Untimed: a plain copy of the cluster taken right after pgwarden's base backup, for PostgreSQL's redo alone
  // (redoAlone below): it needs the same WAL from about the same point, with nothing of pgwarden's in the way.
  redoRoot = mkdtempSync(join(tmpdir(), 'pgwarden-redo-'));
  chmodSync(redoRoot, 0o755);
  source.pg.cluster.own(redoRoot);
  const copied = await source.pg.cluster.run(
    'pg_basebackup',
    ['-h', '127.0.0.1', '-p', String(source.pg.cluster.port), '-U', SUPERUSER, '-D', localBase(), '-Fp', '-X', 'none', '-c', 'fast', '--no-manifest'],
    { env: { PGPASSWORD: source.pg.password }, reject: false },
  );
  if (copied.exitCode !== 0) throw new Error(`pg_basebackup for the redo measurement: ${copied.stderr}`);

  /** PITR to the end of the archive, timed; the restored cluster is removed afterwards. */
  async function pitr(label: string, what: string) {
    const t0 = Date.now();
    const result = await waitFor<PitrResult>(await startPitr(stack.env.client, source.config, { database: 'bench', target: 'latest' }));
    const entry = {
      what,
      ms: Date.now() - t0,
      durationMs: result.durationMs,
      baseRestoreMs: result.baseRestoreMs,
      // Parts of baseRestoreMs: the files, and the first segments fetched beside them (the restore waits for both).
      baseFilesMs: result.baseFilesMs,
      walStaged: result.walStaged,
      walStagedMs: result.walStagedMs,
      recoveryMs: result.recoveryMs,
      // Part of recoveryMs: from pg_ctl start until promoted (writable); the rest is settling and a restart.
      promotedMs: result.promotedMs,
      writableMs: result.writableAt !== undefined ? Date.parse(result.writableAt) - t0 : undefined,
      verifyMs: result.verifyMs,
      segmentsRestored: result.segmentsRestored,
      withinRto: result.withinRto,
    };
    report[`pitr_${label}`] = entry;
    log(`pitr ${label}: ${JSON.stringify(entry)}`);
    await execa('runuser', ['-u', 'pgwarden', '--', join(bin, 'pg_ctl'), '-D', result.datadir, '-m', 'immediate', 'stop'], { reject: false });
    await execa('rm', ['-rf', result.datadir]);
    return entry;
  }
  await pitr('base_only', 'base backup and the few segments written since');

  /** Runs pgbench for SECONDS while sampling when segments become ready and when they reach the archive. */
  async function load(mode: string) {
    const ready = new Map<string, number>(); // segment -> first seen ready (or done)
    const archived = new Map<string, number>(); // segment -> object written (file mtime in versitygw's directory)
    const samples: Array<{ at: number; lsn: string }> = [];
    let running = true;
    const watcher = (async () => {
      while (running) {
        const now = Date.now();
        for (const file of readdirSync(join(pgWal, 'archive_status'))) {
          const name = file.replace(/\.(ready|done)$/, '');
          if (/^[0-9A-F]{24}$/.test(name) && !ready.has(name)) ready.set(name, now);
        }
        if (existsSync(objects)) {
          for (const file of readdirSync(objects)) {
            const name = file.replace('.zst.gpg', '');
            if (/^[0-9A-F]{24}$/.test(name) && !archived.has(name)) archived.set(name, statSync(join(objects, file)).mtimeMs);
          }
        }
        await sleep(50);
      }
    })();
    const sampler = (async () => {
      while (running) {
        const { rows } = await source.pg.query<{ lsn: string }>('postgres', 'SELECT pg_current_wal_lsn()::text AS lsn');
        samples.push({ at: Date.now(), lsn: rows[0]!.lsn });
        await sleep(200);
      }
    })();
    const started = Date.now();
    const bench = await execa(join(bin, 'pgbench'), ['-c', String(CLIENTS), '-j', '2', '-T', String(SECONDS), '-n', 'postgres'], { env });
    const ended = Date.now();
    // Let the archive catch up, then stop watching.
    const { rows } = await source.pg.query<{ name: string }>('postgres', 'SELECT pg_walfile_name(pg_switch_wal()) AS name');
    const last = rows[0]!.name;
    while (!archived.has(last) && Date.now() - ended < 600_000) await sleep(100);
    const caughtUp = Date.now();
    running = false;
    await Promise.all([watcher, sampler]);

    const during = [...ready.entries()].filter(([, at]) => at >= started && at <= ended + 1_000).map(([name]) => name).sort();
    const delays = during.filter((n) => archived.has(n)).map((n) => archived.get(n)! - ready.get(n)!);
    // RPO at instant t: t minus the moment the newest segment already archived at t was completed.
    const rpo: number[] = [];
    const order = [...ready.keys()].sort();
    for (let at = started + 1_000; at <= ended; at += 100) {
      const safe = order.filter((n) => (archived.get(n) ?? Infinity) <= at);
      const newest = safe.at(-1);
      if (newest) rpo.push(at - ready.get(newest)!);
    }
    const backlog: number[] = [];
    for (let at = started; at <= ended; at += 100) backlog.push(order.filter((n) => ready.get(n)! <= at && (archived.get(n) ?? Infinity) > at).length);
    const tps = Number(/tps = ([\d.]+)/.exec(bench.stdout)?.[1] ?? 0);
    const walBytes = during.length * 16 * 2 ** 20;
    const result = {
      mode,
      tps,
      segments: during.length,
      walMBps: round(walBytes / 2 ** 20 / ((ended - started) / 1000)),
      segmentsPerSecond: round(during.length / ((ended - started) / 1000)),
      archiveDelayMs: { p50: percentile(delays, 50), p99: percentile(delays, 99), max: Math.max(...delays) },
      rpoMs: { p50: percentile(rpo, 50), p99: percentile(rpo, 99), max: Math.max(...rpo) },
      backlogSegments: { max: Math.max(...backlog), p50: percentile(backlog, 50) },
      catchUpAfterLoadMs: caughtUp - ended,
    };
    log(`${mode}: ${JSON.stringify(result)}`);
    return result;
  }

  report.loadAsync = await load('async (--async: background pusher, 4 parallel uploads)');
  // The same load with one process per segment, pushing synchronously, for comparison.
  const syncCommand = source.archiveCommand.replace(' --async', '');
  await source.pg.query('postgres', `ALTER SYSTEM SET archive_command = '${syncCommand}'`);
  await source.pg.query('postgres', 'SELECT pg_reload_conf()');
  report.loadSync = await load('sync (one process per segment)');
  await source.pg.query('postgres', `ALTER SYSTEM SET archive_command = '${source.archiveCommand}'`);
  await source.pg.query('postgres', 'SELECT pg_reload_conf()');

  /** A burst of WAL (a big CREATE TABLE AS): how many segments per second the archive takes in. */
  async function burst(mode: string, command: string, rows: number) {
    await source.pg.query('postgres', `ALTER SYSTEM SET archive_command = '${command}'`);
    await source.pg.query('postgres', 'SELECT pg_reload_conf()');
    await sleep(500);
    const seen = new Set(existsSync(objects) ? readdirSync(objects) : []);
    const t0 = Date.now();
    await source.pg.query('postgres', `CREATE TABLE burst_${Date.now()} AS SELECT g, md5(g::text) || md5((g + 1)::text) AS filler FROM generate_series(1, ${rows}) g`);
    const { rows: last } = await source.pg.query<{ name: string }>('postgres', 'SELECT pg_walfile_name(pg_switch_wal()) AS name');
    const written = Date.now();
    while (!existsSync(join(objects, `${last[0]!.name}.zst.gpg`)) && Date.now() - written < 900_000) await sleep(100);
    const done = Date.now();
    const segments = readdirSync(objects).filter((f) => !seen.has(f) && /^[0-9A-F]{24}\.zst\.gpg$/.test(f)).length;
    const result = { mode, segments, writeSeconds: round((written - t0) / 1000), archivedAfterWriteSeconds: round((done - written) / 1000), segmentsPerSecond: round(segments / ((done - t0) / 1000)) };
    log(`burst ${mode}: ${JSON.stringify(result)}`);
    return result;
  }
  report.burstAsync = await burst('async', source.archiveCommand, 6_000_000);
  report.burstSync = await burst('sync', source.archiveCommand.replace(' --async', ''), 6_000_000);
  await source.pg.query('postgres', `ALTER SYSTEM SET archive_command = '${source.archiveCommand}'`);
  await source.pg.query('postgres', 'SELECT pg_reload_conf()');

  // Per-segment cost of wal-push: process start, the already-archived fast path, a full synchronous push.
  const scratch = mkdtempSync(join(tmpdir(), 'pgwarden-walpush-'));
  const segments = readdirSync(pgWal).filter((f) => /^[0-9A-F]{24}$/.test(f)).slice(0, 10);
  mkdirSync(join(scratch, 'pg_wal'));
  // Wall time, and CPU time (user + system, the process and the children it waited for: zstd, gpg) through
  // /usr/bin/time: on a machine shared with other work, CPU time is what one push costs, wall time what it waited.
  const cpu: number[] = [];
  const time = async (argv: string[], cwd?: string) => {
    const t0 = process.hrtime.bigint();
    const run = await execa('/usr/bin/time', ['-f', 'pgwarden-cpu %U %S', process.execPath, ...argv], { reject: false, env: { ...process.env }, ...(cwd ? { cwd } : {}) });
    if (run.exitCode !== 0) throw new Error(`${argv.join(' ')}: ${run.stderr}`);
    const used = /pgwarden-cpu ([\d.]+) ([\d.]+)/.exec(run.stderr);
    if (used) cpu.push((Number(used[1]) + Number(used[2])) * 1000);
    return Number(process.hrtime.bigint() - t0) / 1e6;
  };
  const cpuOf = (from: number) => cpu.slice(from);
  const startCost: number[] = [];
  for (let i = 0; i < 10; i += 1) startCost.push(await time([CLI, '--version']));
  const startCpu = cpuOf(0);
  const fresh = await (async () => {
    // A cluster of its own so the pushed segments are new to the archive.
    const other = await startArchivingCluster(stack, 'walpush', { extraConf: ['archive_mode = off'] });
    await execa(join(bin, 'pgbench'), ['-i', '-s', '5', '-q', 'postgres'], { env: libpqEnv(pgEndpoint(other.pg.url('postgres'), 'x')) });
    await other.pg.query('postgres', 'CHECKPOINT');
    const names = readdirSync(join(other.pg.cluster.dataDir, 'pg_wal')).filter((f) => /^[0-9A-F]{24}$/.test(f)).slice(0, 8);
    const costs: number[] = [];
    const pushCpuFrom = cpu.length;
    for (const name of names) {
      copyFileSync(join(other.pg.cluster.dataDir, 'pg_wal', name), join(scratch, 'pg_wal', name));
      costs.push(await time([CLI, '--config', other.configFile, 'wal-push', '--db', 'walpush', join('pg_wal', name)], scratch));
    }
    const pushCpu = cpuOf(pushCpuFrom);
    const again: number[] = [];
    for (const name of names) again.push(await time([CLI, '--config', other.configFile, 'wal-push', '--db', 'walpush', join('pg_wal', name)], scratch));
    // What restore_command pays for a segment nobody fetched ahead: one wal-fetch process, fetch, decrypt, verify.
    const fetchWall: number[] = [];
    const fetchCpuFrom = cpu.length;
    for (const name of names) fetchWall.push(await time([CLI, '--config', other.configFile, 'wal-fetch', '--db', 'walpush', '--prefetch', '0', name, join(scratch, `${name}.fetched`)], scratch));
    const fetchCpu = cpuOf(fetchCpuFrom);
    await other.pg.stop();
    return { costs, again, pushCpu, fetchWall, fetchCpu };
  })();
  report.walPush = {
    processStartMs: { p50: round(percentile(startCost, 50)), max: round(Math.max(...startCost)) },
    processStartCpuMs: { p50: round(percentile(startCpu, 50)) },
    syncPushMs: { p50: round(percentile(fresh.costs, 50)), max: round(Math.max(...fresh.costs)) },
    syncPushCpuMs: { p50: round(percentile(fresh.pushCpu, 50)), max: round(Math.max(...fresh.pushCpu)) },
    alreadyArchivedMs: { p50: round(percentile(fresh.again, 50)) },
    fetchMs: { p50: round(percentile(fresh.fetchWall, 50)), max: round(Math.max(...fresh.fetchWall)) },
    fetchCpuMs: { p50: round(percentile(fresh.fetchCpu, 50)), max: round(Math.max(...fresh.fetchCpu)) },
    syncSegmentsPerSecondOneAtATime: round(1000 / percentile(fresh.costs, 50)),
  };
  void segments;
  log(`wal-push: ${JSON.stringify(report.walPush)}`);

  const afterLoad = await pitr('after_load', 'the load\'s WAL to replay as well');
  report.replaySplit = await replaySplit(afterLoad);
  summary(report);
} finally {
  (report.loadAverage as { end?: number[] }).end = loadavg().map((l) => round(l));
  mkdirSync(results, { recursive: true });
  writeFileSync(join(results, 'wal-load.json'), `${JSON.stringify(report, null, 2)}\n`);
  log(`written ${join(results, 'wal-load.json')}`);
  await source.pg.stop();
  await stack.stop();
  if (redoRoot) rmSync(redoRoot, { recursive: true, force: true });
}

interface PitrEntry {
  ms: number;
  baseRestoreMs: number;
  baseFilesMs?: number;
  walStaged?: number;
  walStagedMs?: number;
  recoveryMs: number;
  promotedMs?: number;
  segmentsRestored: number;
}

/** Runs `fn` on `items`, `concurrency` at a time, timed: wall time and CPU time (this process and its children). */
async function timedPass<T>(items: T[], concurrency: number, fn: (item: T) => Promise<void>) {
  const cpu0 = cpuWithChildrenMs();
  const t0 = performance.now();
  await inParallel(items, concurrency, fn);
  const ms = performance.now() - t0;
  const cpuMs = cpuWithChildrenMs() - cpu0;
  return {
    concurrency,
    ms: round(ms),
    msPerSegment: round(ms / items.length),
    segmentsPerSecond: round(items.length / (ms / 1000)),
    cpuMs: round(cpuMs),
    cpuMsPerSegment: round(cpuMs / items.length),
  };
}


/**
 * The replay split (issue 22). The WAL the PITR after the load replayed, from the plain copy's start on:
 * 1. pgwarden's fetch path alone: each archived segment fetched, its sha256 checked, decrypted and decompressed
 *    (fetchWalBytes, in this process as the restore's worker runs it for the staged WAL and its feeder), written to a
 *    local directory: one at a time, then three at a time (the feeder's and the staging's concurrency).
 * 2. PostgreSQL's redo alone: the plain copy started with restore_command = cp from that directory, timed from
 *    pg_ctl start to promoted (pg_is_in_recovery() false, probed every 20 ms), as pgwarden's promotedMs is.
 * pgwarden's replay is its time until promoted plus what its base backup restore waited for the WAL staged beside it.
 */
async function replaySplit(pitr: PitrEntry) {
  const base = localBase();
  const label = readFileSync(join(base, 'backup_label'), 'utf8');
  const first = /START WAL LOCATION: \S+ \(file ([0-9A-F]{24})\)/.exec(label)?.[1];
  const timeline = Number(/START TIMELINE: (\d+)/.exec(label)?.[1] ?? '1');
  if (!first) throw new Error(`no start segment in the copy's backup_label:\n${label}`);
  const names = readdirSync(objects)
    .map((f) => f.replace('.zst.gpg', ''))
    .filter((n) => /^[0-9A-F]{24}$/.test(n) && n >= first && n.startsWith(first.slice(0, 8)))
    .sort();
  const walDir = join(redoRoot!, 'wal');
  mkdirSync(walDir, { recursive: true });

  log(`replay split: fetching ${names.length} segments (${names[0]} … ${names.at(-1)}) through pgwarden's fetch path`);
  const archive = openArchive(source.config, 'bench');
  let fetchOne;
  let fetchThree;
  let plainBytes = 0;
  try {
    await fetchWalBytes(archive.repo, 'bench', names[0]!, archive.keys); // untimed: the data keys opened, a connection made
    const fetchInto = async (name: string) => {
      const plain = await fetchWalBytes(archive.repo, 'bench', name, archive.keys);
      if (!plain) throw new Error(`${name} is not archived`);
      writeFileSync(join(walDir, name), plain);
    };
    fetchOne = await timedPass(names, 1, fetchInto);
    fetchThree = await timedPass(names, 3, fetchInto);
    for (const name of names) plainBytes += statSync(join(walDir, name)).size;
  } finally {
    await archive.keys.close();
  }
  const storedBytes = names.reduce((sum, name) => sum + statSync(join(objects, `${name}.zst.gpg`)).size, 0);
  source.pg.cluster.own(walDir);
  log(`fetch alone: one at a time ${JSON.stringify(fetchOne)}; three at a time ${JSON.stringify(fetchThree)}`);

  const port = await freePort();
  const user = source.pg.cluster.options.user;
  const cluster = new LocalCluster({ dataDir: base, binDir: bin, port, ...(user ? { user } : {}) });
  const auto = join(base, 'postgresql.auto.conf');
  const settings = [
    '',
    '# bench/wal-load.ts: PostgreSQL redo alone, WAL from a local directory',
    `port = ${port}`,
    `listen_addresses = 'localhost'`,
    `unix_socket_directories = '/tmp'`,
    `log_timezone = 'UTC'`,
    `archive_mode = off`,
    `restore_command = 'cp "${walDir}/%f" "%p"'`,
    `recovery_target_timeline = '${timeline}'`,
    `recovery_target_action = 'promote'`,
  ];
  writeFileSync(auto, `${existsSync(auto) ? readFileSync(auto, 'utf8') : ''}${settings.join('\n')}\n`);
  writeFileSync(join(base, 'recovery.signal'), '');
  rmSync(cluster.logFile, { force: true }); // the source's server log, copied with its data directory
  cluster.own(base);
  const url = cluster.url(SUPERUSER, source.pg.password, 'postgres');
  log('redo alone: the plain copy started with restore_command = cp');
  const t0 = performance.now();
  let redoMs: number;
  try {
    const started = await cluster.run('pg_ctl', ['-D', base, '-l', cluster.logFile, '-W', '-o', `-p ${port}`, 'start'], { reject: false });
    if (started.exitCode !== 0) throw new Error(`pg_ctl start of the plain copy: ${started.stderr}`);
    for (;;) {
      const state = await recoveryState(url);
      if (state === 'promoted') break;
      if (performance.now() - t0 > 3_600_000) throw new Error('the plain copy did not promote within an hour');
      if (state === 'down' && performance.now() - t0 > 10_000 && !(await cluster.running())) {
        throw new Error(`the plain copy stopped during recovery:\n${readFileSync(cluster.logFile, 'utf8').split('\n').slice(-20).join('\n')}`);
      }
      await sleep(20);
    }
    redoMs = performance.now() - t0;
  } finally {
    await cluster.stop('immediate');
  }
  const serverLog = readFileSync(cluster.logFile, 'utf8');
  const restored = new Set([...serverLog.matchAll(/restored log file "([0-9A-F]{24})" from archive/g)].map((m) => m[1])).size;
  const redoAlone = {
    restoreCommand: 'cp from a local directory',
    ms: round(redoMs),
    segmentsRestored: restored,
    segmentsPerSecond: round(restored / (redoMs / 1000)),
    walMBps: round((restored * 16) / (redoMs / 1000)),
  };
  log(`redo alone: ${JSON.stringify(redoAlone)}`);

  // What the base backup restore waited for the WAL staged beside it: part of pgwarden's replay, counted in baseRestoreMs.
  const stagingWaitMs = pitr.walStagedMs !== undefined && pitr.baseFilesMs !== undefined ? Math.max(0, pitr.walStagedMs - pitr.baseFilesMs) : undefined;
  const pgwardenReplayMs = pitr.promotedMs !== undefined ? pitr.promotedMs + (stagingWaitMs ?? 0) : undefined;
  return {
    segments: names.length,
    firstSegment: first,
    lastSegment: names.at(-1),
    plainMiB: round(plainBytes / MiB),
    storedMiB: round(storedBytes / MiB),
    copy: "pg_basebackup -Fp -X none -c fast of the source right after pgwarden's base backup (untimed); its WAL from its own start on",
    fetchAlone: { what: 'fetchWalBytes in one process: GET, sha256, gpg -d | zstd -d, written to a local directory', oneAtATime: fetchOne, threeAtATime: fetchThree },
    redoAlone,
    pgwarden: {
      segmentsRestored: pitr.segmentsRestored,
      untilPromotedMs: pitr.promotedMs,
      walStaged: pitr.walStaged,
      stagingWaitMs,
      replayMs: pgwardenReplayMs,
      afterPromotionMs: pitr.promotedMs !== undefined ? pitr.recoveryMs - pitr.promotedMs : undefined,
      recoveryMs: pitr.recoveryMs,
    },
    // pgwarden's replay beyond PostgreSQL's redo of (about) the same WAL: the part pgwarden controls.
    pgwardenOverRedoMs: pgwardenReplayMs !== undefined ? round(pgwardenReplayMs - redoMs) : undefined,
  };
}

/** The replay split in a few lines, after the JSON's details. */
function summary(r: Record<string, unknown>): void {
  const split = r.replaySplit as Awaited<ReturnType<typeof replaySplit>> | undefined;
  if (!split) return;
  const s = (ms: number | undefined) => (ms === undefined ? 'n/a' : `${(ms / 1000).toFixed(2)} s`);
  const p = split.pgwarden;
  log('summary of the replay:');
  log(`  pgwarden PITR: ${p.segmentsRestored} segments; until promoted ${s(p.untilPromotedMs)} after pg_ctl start, plus ${s(p.stagingWaitMs)} the base backup restore waited for the ${p.walStaged ?? '?'} segments staged beside it: replay ${s(p.replayMs)}; after promotion (settling, a restart) ${s(p.afterPromotionMs)}`);
  log(`  PostgreSQL redo alone (restore_command = cp): ${split.redoAlone.segmentsRestored} segments in ${s(split.redoAlone.ms)} (${split.redoAlone.segmentsPerSecond}/s)`);
  log(`  pgwarden's fetch path alone (${split.segments} segments, ${split.storedMiB} MiB stored, ${split.plainMiB} MiB plain): one at a time ${s(split.fetchAlone.oneAtATime?.ms)} (${split.fetchAlone.oneAtATime?.msPerSegment} ms, ${split.fetchAlone.oneAtATime?.cpuMsPerSegment} ms CPU per segment), three at a time ${s(split.fetchAlone.threeAtATime?.ms)}`);
  log(`  pgwarden's replay beyond redo alone: ${s(split.pgwardenOverRedoMs)}`);
}
