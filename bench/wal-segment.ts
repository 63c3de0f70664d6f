// What PostgreSQL pays per WAL segment: one `pgwarden wal-push` (archive_command, synchronous), the answer of
// `wal-push --async` from the spool, a re-push of an archived segment, and one `wal-fetch` (restore_command, nothing
// prefetched). Per run: wall time, CPU time of the process tree (user + system, zstd and gpg included), S3 requests
// (through a counting proxy) and JavaScript files opened (strace, where installed). With --base DIR, the same commands
// of another build (DIR/dist/client/cli.js) run alternately with this one, so that the machine's load hits both alike.
//   node dist/bench/wal-segment.js [--runs 15] [--base DIR]      writes bench/results/wal-segment.json
import { execFileSync, spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DeleteObjectCommand } from '@aws-sdk/client-s3';
import { execa } from 'execa';
import { stringify } from 'yaml';
import { serverBinDir } from '../activities/postgres/binaries.js';
import { libpqEnv, pgEndpoint } from '../activities/postgres/connection.js';
import { startCountingProxy } from '../test/harness/counting-proxy.js';
import { startCluster } from '../test/harness/postgres.js';
import { startS3 } from '../test/harness/s3.js';
import { log, median } from './util.js';

const args = process.argv.slice(2);
const option = (name: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
};
const RUNS = Number(option('runs') ?? 15);
const HERE = fileURLToPath(new URL('../client/cli.js', import.meta.url));
const builds: Array<{ label: string; cli: string }> = [{ label: 'this build', cli: HERE }];
if (option('base')) builds.unshift({ label: `base (${option('base')})`, cli: resolve(option('base')!, 'dist/client/cli.js') });
const results = fileURLToPath(new URL('../../bench/results/', import.meta.url));
const hasStrace = (() => {
  try {
    execFileSync('strace', ['-V'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();
const round = (n: number | undefined) => (n === undefined ? undefined : Math.round(n));
const load = () => loadavg().map((l) => Math.round(l * 100) / 100);

interface Run {
  wallMs: number;
  cpuMs: number;
  requests: string[];
}

const s3 = await startS3();
const proxy = await startCountingProxy(s3.endpoint);
const pg = await startCluster(['wal_level = replica', 'wal_keep_size = 1GB']); // keeps the loaded data's segments
const dir = mkdtempSync(join(tmpdir(), 'pgwarden-bench-segment-'));
let pgStopped = false;
const report: Record<string, unknown> = { machine: { cpu: cpus()[0]?.model, cores: cpus().length, node: process.version }, runs: RUNS, loadAverage: { start: load() } };
try {
  await s3.createBucket('walbench');
  // Real segments: a cluster's WAL after loading a little data.
  await execa(join(serverBinDir(), 'pgbench'), ['-i', '-s', '10', '-q', 'postgres'], { env: libpqEnv(pgEndpoint(pg.url('postgres'), 'bench')) });
  const wal = join(pg.cluster.dataDir, 'pg_wal');
  const current = (await pg.query<{ name: string }>('postgres', 'SELECT pg_walfile_name(pg_current_wal_lsn()) AS name')).rows[0]!.name;
  const segments = readdirSync(wal).filter((f) => /^[0-9A-F]{24}$/.test(f) && f < current).slice(-6);
  if (segments.length === 0) throw new Error(`no closed WAL segment before ${current} in ${wal}: ${readdirSync(wal).join(' ')}`);
  mkdirSync(join(dir, 'pg_wal'));
  for (const name of segments) copyFileSync(join(wal, name), join(dir, 'pg_wal', name));
  await pg.stop();
  pgStopped = true;
  process.env.PGWARDEN_BENCH_S3_KEY = s3.accessKeyId;
  process.env.PGWARDEN_BENCH_S3_SECRET = s3.secretAccessKey;
  process.env.PGWARDEN_BENCH_PASSPHRASE = 'bench passphrase';
  process.env.PGWARDEN_BENCH_URL = 'postgresql://nobody@127.0.0.1:1/postgres';
  const configFile = join(dir, 'pgwarden.yaml');
  // One archive per build (databases b0, b1 …), so that neither uses what the other cached in its spool.
  writeFileSync(
    configFile,
    stringify({
      temporal: { address: '127.0.0.1:7233' },
      encryption: { passphraseEnv: 'PGWARDEN_BENCH_PASSPHRASE' },
      repositories: {
        s3: { type: 's3', endpoint: proxy.endpoint, region: 'us-east-1', bucket: 'walbench', prefix: 'archive', forcePathStyle: true, accessKeyIdEnv: 'PGWARDEN_BENCH_S3_KEY', secretAccessKeyEnv: 'PGWARDEN_BENCH_S3_SECRET' },
      },
      databases: Object.fromEntries(builds.map((_, i) => [`b${i}`, { connection: { env: 'PGWARDEN_BENCH_URL' }, repositories: ['s3'], pitr: { repository: 's3' } }])),
    }),
  );

  /** Runs `pgwarden ARGS` in the scratch directory; CPU time of the process and every child it waited for (bash's `times`). */
  async function run(cli: string, argv: string[], expectExit = 0): Promise<Run> {
    proxy.reset();
    const started = process.hrtime.bigint();
    const child = spawn('bash', ['-c', '"$@"; rc=$?; times >&2; exit $rc', 'bash', process.execPath, cli, '--config', configFile, ...argv], { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await new Promise<number | null>((done) => child.on('close', done));
    const wallMs = Number(process.hrtime.bigint() - started) / 1e6;
    if (code !== expectExit) throw new Error(`pgwarden ${argv.join(' ')} exited ${code}, expected ${expectExit}: ${stderr}\nS3 requests: ${proxy.requests.join(', ')}`);
    const children = stderr.trim().split('\n').at(-1)!.match(/(\d+)m([\d.]+)s (\d+)m([\d.]+)s/)!;
    const cpuMs = (Number(children[1]) * 60 + Number(children[2]) + Number(children[3]) * 60 + Number(children[4])) * 1000;
    return { wallMs, cpuMs, requests: [...proxy.requests] };
  }

  /** JavaScript files the command opens (modules and chunks), once: a count that does not depend on load. */
  async function filesOpened(cli: string, argv: string[]): Promise<number | undefined> {
    if (!hasStrace) return undefined;
    const trace = join(dir, 'trace');
    // Asynchronously: this process serves the S3 proxy the command talks to.
    await execa('strace', ['-f', '-qq', '-e', 'trace=openat', '-o', trace, process.execPath, cli, '--config', configFile, ...argv], { cwd: dir });
    return readFileSync(trace, 'utf8').split('\n').filter((line) => /\.js", O_RDONLY\|O_CLOEXEC\) = \d/.test(line)).length;
  }

  const archived = async (db: string, name: string) => s3.client.send(new DeleteObjectCommand({ Bucket: 'walbench', Key: `archive/${db}/wal/${name}.zst.gpg` }));
  const push = (i: number, name: string) => run(builds[i]!.cli, ['wal-push', '--db', `b${i}`, join('pg_wal', name)]);
  // Warm-up: the first push of an archive records its identity and makes the day's key (once a day, not per segment).
  for (const [i] of builds.entries()) {
    await push(i, segments[0]!);
    await archived(`b${i}`, segments[0]!);
  }
  const samples: Record<string, Run[]> = {};
  const add = (key: string, r: Run) => (samples[key] ??= []).push(r);
  for (let n = 0; n < RUNS; n += 1) {
    const name = segments[n % segments.length]!;
    for (const [i, b] of builds.entries()) {
      add(`${b.label}|wal-push (new segment)`, await push(i, name));
      add(`${b.label}|wal-push (already archived)`, await push(i, name));
      add(`${b.label}|wal-fetch (not prefetched)`, await run(b.cli, ['wal-fetch', '--db', `b${i}`, '--prefetch', '0', name, join(dir, `fetched-${i}`)]));
      // wal-push --async's answer when the background pusher archived the segment ahead (a result in the spool).
      const spoolOut = join(dir, 'spool', `b${i}`, 'out');
      mkdirSync(spoolOut, { recursive: true, mode: 0o700 });
      writeFileSync(join(spoolOut, `${name}.ok`), '');
      add(`${b.label}|wal-push --async (answered from the spool)`, await run(b.cli, ['wal-push', '--db', `b${i}`, '--async', '--spool', join(dir, 'spool', `b${i}`), join('pg_wal', name)]));
      await archived(`b${i}`, name);
    }
  }
  const table: Record<string, unknown> = {};
  for (const [key, runs] of Object.entries(samples)) {
    const [build, command] = key.split('|') as [string, string];
    const i = builds.findIndex((b) => b.label === build);
    const name = segments[0]!;
    let opened: number | undefined;
    if (command === 'wal-push (new segment)') {
      await archived(`b${i}`, name);
      opened = await filesOpened(builds[i]!.cli, ['wal-push', '--db', `b${i}`, join('pg_wal', name)]);
    } else if (command === 'wal-fetch (not prefetched)') {
      opened = await filesOpened(builds[i]!.cli, ['wal-fetch', '--db', `b${i}`, '--prefetch', '0', name, join(dir, 'fetched-trace')]);
    }
    const row = {
      wallMs: { p50: round(median(runs.map((r) => r.wallMs))), min: round(Math.min(...runs.map((r) => r.wallMs))) },
      cpuMs: { p50: round(median(runs.map((r) => r.cpuMs))), min: round(Math.min(...runs.map((r) => r.cpuMs))) },
      s3Requests: median(runs.map((r) => r.requests.length)),
      s3RequestsOfOneRun: runs.at(-1)!.requests.map((r) => r.replace(/\?.*/, '').replace('/walbench/archive/', ' ')),
      ...(opened !== undefined ? { javascriptFilesOpened: opened } : {}),
    };
    ((table[command] ??= {}) as Record<string, unknown>)[build] = row;
    log(`${command.padEnd(44)} ${build.padEnd(28)} wall p50 ${String(row.wallMs.p50).padStart(5)} ms  CPU p50 ${String(row.cpuMs.p50).padStart(4)} ms  S3 requests ${row.s3Requests}${opened !== undefined ? `  JS files ${opened}` : ''}`);
  }
  report.results = table;
} finally {
  (report.loadAverage as { end?: number[] }).end = load();
  log(`load average: start ${JSON.stringify((report.loadAverage as { start: number[] }).start)}, end ${JSON.stringify(load())}`);
  if (!existsSync(results)) mkdirSync(results, { recursive: true });
  writeFileSync(join(results, 'wal-segment.json'), `${JSON.stringify(report, null, 2)}\n`);
  if (!pgStopped) await pg.stop();
  await proxy.stop();
  await s3.stop();
}
