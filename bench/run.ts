#!/usr/bin/env node
// `npm run bench`: pgwarden against the runbook's script and pgBackRest, on the same data, the same S3 server
// and the same machine, in alternating rounds. Sets up everything itself and removes it at the end, also on
// failure or Ctrl-C. See bench/README.md for the knobs and what each row measures.
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { execa } from 'execa';
import { clusterUser } from '../activities/postgres/cluster.js';
import { serverBinDir } from '../activities/postgres/binaries.js';
import { findTool } from '../client/demo/tools.js';
import { startCluster } from '../test/harness/postgres.js';
import { startTemporal } from '../test/harness/temporal.js';
import type { BenchContext, BenchOptions, BenchTool, Measurement } from './context.js';
import { measureEncryption } from './encryption.js';
import { databaseSizes, loadBenchData, measureDumpRatio, ordersForSize } from './generate.js';
import { machineInfo } from './machine.js';
import { renderConsole, renderMarkdown, type BenchResults, type ToolSummary } from './report.js';
import { startBenchS3 } from './s3.js';
import { ensurePgbackrest, pgbackrestTool } from './tools/pgbackrest.js';
import { pgwardenBeforeTool, pgwardenLogicalTool } from './tools/pgwarden.js';
import { pgdumpDirTool } from './tools/pgdump-dir.js';
import { buildAt } from './before.js';
import { runFleet, writeFleet } from './fleet.js';
import { runArchiveListing, writeArchiveListing } from './archive-listing.js';
import { pgwardenPitrTool } from './tools/pgwarden-pitr.js';
import { runbookTool } from './tools/runbook.js';
import { aptInstall, Cleanup, fmtBytes, fmtSeconds, log, median, settle } from './util.js';

/** Every tool the benchmark knows, in the order of a round. */
const TOOLS: Record<string, () => BenchTool> = {
  runbook: runbookTool,
  pgwarden: pgwardenLogicalTool,
  'pgdump-dir': pgdumpDirTool,
  pgbackrest: pgbackrestTool,
  'pgwarden-pitr': pgwardenPitrTool,
};

const DATABASE = 'cartly';
const BUCKET = 'pgwarden-bench';
const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));

const HELP = `Usage: npm run bench -- [options]     (or: node dist/bench/run.js [options] after npm run build)

  --size-mb N           size of the benchmark database (pg_database_size) in MB   [BENCH_SIZE_MB, default 1000]
  --orders N            scale by orders instead (about 2.5 kB of database per order) [BENCH_ORDERS]
  --runs N              runs of each tool, alternating; medians are reported      [BENCH_RUNS, default 3]
  --tools LIST          comma-separated, in round order                           [BENCH_TOOLS, default ${Object.keys(TOOLS).join(',')}]
  --pgbackrest-cipher C aes-256-cbc (like the others, which encrypt) or none       [BENCH_PGBACKREST_CIPHER, default aes-256-cbc]
  --before REF          also run pgwarden logical with a worker built from git commit REF (before/after)  [BENCH_BEFORE]

  --fleet               instead: 20 databases, their daily schedules fired at once, one worker then two (bench/results/fleet)
  --fleet-databases N   databases in the fleet                                    [default 20]
  --fleet-min-mb N      size of the smallest, the largest (log scale between)   [default 10]
  --fleet-max-mb N                                                               [default 300]

  --archive-listing     instead: PITR and retention planning over a WAL archive of --segments objects (bench/results)
  --segments N          WAL segment objects in the archive                        [default 50000]
  --out DIR             where latest.md and <time>.json|.md go                    [BENCH_OUT, default bench/results]
  --tmp DIR             where clusters, S3 data and dumps go (needs ~6x the size)  [BENCH_TMPDIR, default $TMPDIR or /tmp]
  --keep-temp           leave the temp directory behind (servers are stopped all the same)
  --render FILE.json    measure nothing: rewrite FILE.md (next to it) and print the table from a results file
  -h, --help            this text
`;

function parseOptions(): BenchOptions {
  const { values } = parseArgs({
    options: {
      'size-mb': { type: 'string' },
      orders: { type: 'string' },
      runs: { type: 'string' },
      tools: { type: 'string' },
      'pgbackrest-cipher': { type: 'string' },
      before: { type: 'string' },
      fleet: { type: 'boolean' },
      'fleet-databases': { type: 'string' },
      'fleet-min-mb': { type: 'string' },
      'fleet-max-mb': { type: 'string' },
      'archive-listing': { type: 'boolean' },
      segments: { type: 'string' },
      out: { type: 'string' },
      tmp: { type: 'string' },
      'keep-temp': { type: 'boolean' },
      render: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(HELP);
    process.exit(0);
  }
  const env = process.env;
  const number = (value: string | undefined, name: string, fallback?: number) => {
    if (value === undefined || value === '') return fallback;
    const n = Number(value);
    if (!Number.isFinite(n) || n <= 0) throw new UsageError(`${name} must be a positive number, not "${value}"`);
    return n;
  };
  const tools = (values.tools ?? env.BENCH_TOOLS ?? Object.keys(TOOLS).join(','))
    .split(',')
    .map((t) => t.trim())
    .filter(Boolean);
  for (const tool of tools) if (!TOOLS[tool] && tool !== 'pgwarden-before') throw new UsageError(`unknown tool "${tool}" (known: ${Object.keys(TOOLS).join(', ')})`);
  const cipher = values['pgbackrest-cipher'] ?? env.BENCH_PGBACKREST_CIPHER ?? 'aes-256-cbc';
  if (cipher !== 'aes-256-cbc' && cipher !== 'none') throw new UsageError(`--pgbackrest-cipher must be aes-256-cbc or none, not "${cipher}"`);
  const orders = number(values.orders ?? env.BENCH_ORDERS, '--orders');
  const options: BenchOptions = {
    sizeMb: number(values['size-mb'] ?? env.BENCH_SIZE_MB, '--size-mb', 1000)!,
    runs: Math.round(number(values.runs ?? env.BENCH_RUNS, '--runs', 3)!),
    tools,
    pgbackrestCipher: cipher,
    outDir: resolve(values.out ?? env.BENCH_OUT ?? join(REPO_ROOT, 'bench', 'results')),
    tmpDir: resolve(values.tmp ?? env.BENCH_TMPDIR ?? env.TMPDIR ?? '/tmp'),
    keepTemp: values['keep-temp'] ?? env.BENCH_KEEP_TEMP === '1',
  };
  if (orders !== undefined) options.orders = Math.round(orders);
  const before = values.before ?? env.BENCH_BEFORE;
  if (before) {
    options.before = before;
    // Right after pgwarden's own rounds, so both meet the same noise.
    if (!options.tools.includes('pgwarden-before')) options.tools.splice(options.tools.indexOf('pgwarden') + 1 || options.tools.length, 0, 'pgwarden-before');
  }
  if (values.render) options.render = resolve(values.render);
  if (values['archive-listing']) {
    options.archiveListing = {
      segments: Math.round(number(values.segments, '--segments', 50_000)!),
      outDir: resolve(values.out ?? env.BENCH_OUT ?? join(REPO_ROOT, 'bench', 'results')),
      tmpDir: options.tmpDir,
    };
  }
  if (values.fleet) {
    options.fleet = {
      databases: Math.round(number(values['fleet-databases'], '--fleet-databases', 20)!),
      minMb: number(values['fleet-min-mb'], '--fleet-min-mb', 10)!,
      maxMb: number(values['fleet-max-mb'], '--fleet-max-mb', 300)!,
      outDir: resolve(values.out ?? env.BENCH_OUT ?? join(REPO_ROOT, 'bench', 'results', 'fleet')),
      tmpDir: options.tmpDir,
      keepTemp: options.keepTemp,
    };
  }
  return options;
}

class UsageError extends Error {}

async function preflight(options: BenchOptions): Promise<Record<string, string>> {
  // scripts/bootstrap.sh brings gpg and zstd; the rest is usually there, else installed like pgBackRest.
  const packages: Record<string, string> = { gpg: 'gnupg', zstd: 'zstd', gzip: 'gzip', openssl: 'openssl', runuser: 'util-linux' };
  const missing: string[] = [];
  for (const [tool, pkg] of Object.entries(packages)) {
    if ((await execa('sh', ['-c', `command -v ${tool}`], { reject: false })).exitCode !== 0) missing.push(pkg);
  }
  if (missing.length) await aptInstall(missing);
  findTool('temporal');
  findTool('versitygw');
  const cli = join(REPO_ROOT, 'dist', 'client', 'cli.js');
  if (!existsSync(cli)) throw new Error(`${cli} is missing: run npm run build first (npm run bench does)`);
  const versions: Record<string, string> = {};
  if (options.tools.includes('pgbackrest')) versions.pgbackrest = await ensurePgbackrest();
  return versions;
}

async function bench(options: BenchOptions, cleanup: Cleanup): Promise<BenchResults> {
  const startedAt = new Date().toISOString();
  log(`options: ${JSON.stringify(options)}`);
  const versions = await preflight(options);

  mkdirSync(options.tmpDir, { recursive: true });
  process.env.TMPDIR = options.tmpDir; // startCluster() puts its clusters into os.tmpdir()
  const root = mkdtempSync(join(options.tmpDir, 'pgwarden-bench-'));
  chmodSync(root, 0o755);
  cleanup.add(`remove ${root}`, () => (options.keepTemp ? log(`kept ${root}`) : rmSync(root, { recursive: true, force: true })));
  const passphrase = randomBytes(24).toString('base64url');
  const passphraseFile = join(root, 'passphrase');
  writeFileSync(passphraseFile, `${passphrase}\n`, { mode: 0o600 });

  // Servers: Temporal, S3 (TLS), the source cluster (archiving for pgBackRest) and the restore cluster.
  log('starting Temporal dev server, versitygw (TLS) and two PostgreSQL clusters');
  const [temporal, s3, source, target] = await Promise.all([
    startTemporal().then((env) => (cleanup.add('stop Temporal', () => env.teardown()), env)),
    startBenchS3(root).then((s) => (cleanup.add('stop versitygw', () => s.stop()), s)),
    startCluster(['archive_mode = on', "archive_command = '/bin/true'", 'max_wal_size = 4GB']).then((c) => (cleanup.add('stop source cluster', () => c.stop()), c)),
    startCluster(['max_wal_size = 4GB']).then((c) => (cleanup.add('stop restore cluster', () => c.stop()), c)),
  ]);
  await s3.createBucket(BUCKET);
  const user = await clusterUser(process.env.PGWARDEN_CLUSTER_USER ?? 'pgwarden');
  const pgBin = serverBinDir();
  const postgres = (await source.query<{ v: string }>('postgres', 'SELECT version() AS v')).rows[0]!.v.split(',')[0]!;
  log(`Temporal ${temporal.address}; S3 ${s3.endpoint}; source cluster :${source.cluster.port}, restore cluster :${target.cluster.port}; ${postgres}`);

  // The data.
  const orders = options.orders ?? ordersForSize(options.sizeMb);
  log(`loading ${orders.toLocaleString('en-US')} orders into "${DATABASE}"…`);
  await source.query('postgres', `CREATE DATABASE ${DATABASE}`);
  const loadMs = await loadBenchData(source.url(DATABASE), orders);
  const sizes = await databaseSizes(source.url(DATABASE));
  log(`loaded in ${fmtSeconds(loadMs)}: database ${fmtBytes(sizes.databaseBytes)} (tables ${fmtBytes(sizes.tableBytes)}, indexes ${fmtBytes(sizes.indexBytes)}, cluster ${fmtBytes(sizes.clusterBytes)})`);
  const dumpFile = join(root, `${DATABASE}.sql.zst`);
  const dump = await measureDumpRatio(pgBin, source.url(DATABASE), dumpFile);
  if (dump.ratio < 1.7 || dump.ratio > 2.5) log(`warning: the data compresses ${dump.ratio.toFixed(2)}:1 with zstd -3, outside the 1.7–2.5 it is meant to`);

  const machine = await machineInfo(postgres, { versitygw: s3.version, ...versions });
  const ctx: BenchContext = {
    options,
    root,
    ...(user ? { user } : {}),
    pgBin,
    source,
    target,
    database: DATABASE,
    databaseBytes: sizes.databaseBytes,
    s3,
    bucket: BUCKET,
    passphrase,
    passphraseFile,
    temporalAddress: temporal.address,
    cleanup,
  };

  // The tools: set up (untimed), then rounds that alternate between them.
  const tools = options.tools.map((name) =>
    name === 'pgwarden-before' ? pgwardenBeforeTool(options.before ?? 'HEAD', (c) => buildAt(REPO_ROOT, options.before ?? 'HEAD', c.root)) : TOOLS[name]!(),
  );
  const summaries = new Map<string, ToolSummary>(
    tools.map((t) => [t.name, { name: t.name, label: t.label, description: t.describe(ctx), ...(t.pending ? { pending: t.pending } : {}), ...(t.comparesTo ? { comparesTo: t.comparesTo } : {}) }]),
  );
  const failed = (tool: BenchTool, error: unknown) => {
    const message = (error as Error).message ?? String(error);
    summaries.get(tool.name)!.error = message.split('\n')[0]!;
    log(`${tool.label} FAILED: ${message}`);
  };
  const active: BenchTool[] = [];
  for (const tool of tools) {
    if (tool.pending) {
      log(`${tool.label}: ${tool.pending}`);
      continue;
    }
    if (tool.teardown) cleanup.add(`tear down ${tool.label}`, () => tool.teardown!(ctx));
    try {
      await tool.setup?.(ctx);
      active.push(tool);
    } catch (error) {
      failed(tool, error);
    }
  }
  const measurements: Measurement[] = [];
  for (let round = 1; round <= options.runs; round += 1) {
    for (const tool of [...active]) {
      await settle();
      log(`round ${round}/${options.runs}: ${tool.label}…`);
      try {
        const rows = await tool.round(ctx, round);
        measurements.push(...rows);
        for (const row of rows) {
          log(`  ${tool.label} ${row.operation}: ${fmtSeconds(row.wallMs)} (${Object.entries(row.phases).map(([k, v]) => `${k} ${fmtSeconds(v)}`).join(', ')})${row.storedBytes ? `, stored ${fmtBytes(row.storedBytes)}` : ''}`);
        }
      } catch (error) {
        failed(tool, error);
        active.splice(active.indexOf(tool), 1);
      }
    }
  }

  log('encryption step alone…');
  await settle();
  const encryption = await measureEncryption(ctx, dumpFile, options.runs);
  rmSync(dumpFile, { force: true });

  const firstBytes = measurements.map((m) => m.notes?.firstByteMs).filter((v): v is number => typeof v === 'number');
  const results: BenchResults = {
    startedAt,
    finishedAt: new Date().toISOString(),
    options,
    machine,
    data: { orders, loadMs, sizes, dump },
    tools: [...summaries.values()],
    measurements,
    encryption,
  };
  try {
    results.loadAverageAtEnd = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  } catch {
    /* not Linux */
  }
  const overhead = median(firstBytes);
  if (overhead !== undefined) results.temporalOverheadMs = overhead;
  return results;
}

function write(results: BenchResults): void {
  const dir = results.options.outDir;
  mkdirSync(dir, { recursive: true });
  const stamp = results.startedAt.replace(/[:]/g, '').replace(/\.\d+Z$/, 'Z');
  const markdown = renderMarkdown(results);
  writeFileSync(join(dir, `${stamp}.json`), `${JSON.stringify(results, null, 2)}\n`);
  writeFileSync(join(dir, `${stamp}.md`), markdown);
  writeFileSync(join(dir, 'latest.md'), markdown);
  writeFileSync(join(dir, 'latest.json'), `${JSON.stringify(results, null, 2)}\n`);
  process.stdout.write(`\n${renderConsole(results)}\n`);
  log(`written: ${join(dir, 'latest.md')}, ${join(dir, `${stamp}.json`)}`);
}

async function main(): Promise<void> {
  let options: BenchOptions;
  try {
    options = parseOptions();
  } catch (error) {
    process.stderr.write(`bench: ${(error as Error).message}\n\n${HELP}`);
    process.exitCode = 2;
    return;
  }
  if (options.archiveListing) {
    try {
      const results = await runArchiveListing(options.archiveListing);
      process.stdout.write(`\n${writeArchiveListing(results, options.archiveListing.outDir)}\n`);
    } catch (error) {
      log(`failed: ${(error as Error).stack ?? String(error)}`);
      process.exitCode = 1;
    }
    process.exit(process.exitCode ?? 0);
  }
  if (options.fleet) {
    try {
      const results = await runFleet(options.fleet);
      process.stdout.write(`\n${writeFleet(results)}\n`);
      log(`written: ${join(options.fleet.outDir, 'latest.md')}`);
    } catch (error) {
      log(`failed: ${(error as Error).stack ?? String(error)}`);
      process.exitCode = 1;
    }
    process.exit(process.exitCode ?? 0);
  }
  if (options.render) {
    const results = JSON.parse(readFileSync(options.render, 'utf8')) as BenchResults;
    writeFileSync(options.render.replace(/\.json$/, '.md'), renderMarkdown(results));
    process.stdout.write(`${renderConsole(results)}\n`);
    return;
  }
  const cleanup = new Cleanup();
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    log(`${signal}: stopping servers and removing temp files…`);
    void cleanup.run().finally(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const results = await bench(options, cleanup);
    write(results);
    if (results.tools.some((t) => t.error)) process.exitCode = 1;
  } catch (error) {
    log(`failed: ${(error as Error).stack ?? String(error)}`);
    process.exitCode = 1;
  } finally {
    if (!stopping) {
      log('cleaning up');
      await cleanup.run();
    }
  }
  // Temporal's native runtime may keep the event loop alive.
  process.exit(process.exitCode ?? 0);
}

await main();
