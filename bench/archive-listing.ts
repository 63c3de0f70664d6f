// `npm run bench -- --archive-listing [--segments 50000]`: planning a PITR and a retention run over a WAL archive
// as large as a busy database's week (tens of thousands of segment objects, names and one-byte bodies: listing is
// what is measured), with ten daily base backups (manifests only). The retention plan runs through Temporal (an
// expire dry run: the activity as a worker runs it, heartbeats and timeouts included); the PITR plan as the
// planning activity itself (MockActivityEnvironment: its heartbeats counted), since there is no cluster to restore.
// Results go to bench/results/archive-listing.md and .json.
import { keyFingerprint as legacyKeyFingerprint } from '../activities/pipeline/encrypt.js';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createActivities } from '../activities/index.js';
import { formatLsn, segmentName } from '../activities/wal/names.js';
import { startLockedWorkflow } from '../client/api.js';
import { waitFor } from '../client/watch.js';
import { startTemporal } from '../test/harness/temporal.js';
import { compactTimestamp } from '../workflows/tags.js';
import { expireWorkflowId } from '../domain/ids.js';
import type { ExpireResult } from '../domain/expire.js';
import type { Progress } from '../domain/progress.js';
import { machineInfo, type MachineInfo } from './machine.js';
import { startBenchS3 } from './s3.js';
import { startPgwardenWorker } from './tools/pgwarden.js';
import { Cleanup, fmtSeconds, log, now } from './util.js';
import type { ArchiveListingOptions } from './context.js';

const DATABASE = 'busy';
const SEGMENT = 16n * 1024n * 1024n;
const DAYS = 9; // of WAL; base backups at each day boundary, 7 days of PITR window


export interface ArchiveListingResults {
  startedAt: string;
  machine: MachineInfo;
  segments: number;
  baseBackups: number;
  writeMs: number;
  /** expireWorkflow with dryRun, through Temporal: start to result, and the planning activity's own time. */
  retention: { workflowMs: number; planMs: number; walListed: number; walExpired: number };
  /** The PITR planning activity to "latest" (lists the archive, checks coverage from the chosen base backup). */
  pitr: { planMs: number; heartbeats: number; segmentsToReplay: number; window: { from: string; to: string } };
  loadAverageAtEnd?: string;
}

export async function runArchiveListing(options: ArchiveListingOptions): Promise<ArchiveListingResults> {
  const cleanup = new Cleanup();
  try {
    return await measure(options, cleanup);
  } finally {
    log('cleaning up');
    await cleanup.run();
  }
}

async function measure(options: ArchiveListingOptions, cleanup: Cleanup): Promise<ArchiveListingResults> {
  const startedAt = new Date().toISOString();
  mkdirSync(options.tmpDir, { recursive: true });
  const root = mkdtempSync(join(options.tmpDir, 'pgwarden-archive-'));
  chmodSync(root, 0o755);
  cleanup.add(`remove ${root}`, () => rmSync(root, { recursive: true, force: true }));
  const passphraseFile = join(root, 'passphrase');
  const passphrase = randomBytes(24).toString('base64url');
  writeFileSync(passphraseFile, `${passphrase}\n`, { mode: 0o600 });
  const keyFingerprint = await legacyKeyFingerprint(passphrase);
  log('starting Temporal dev server and versitygw (TLS)');
  const [temporal, s3] = await Promise.all([
    startTemporal().then((env) => (cleanup.add('stop Temporal', () => env.teardown()), env)),
    startBenchS3(root).then((s) => (cleanup.add('stop versitygw', () => s.stop()), s)),
  ]);
  const bucket = 'pgwarden-archive';
  await s3.createBucket(bucket);

  // The archive: segments 1 … N on timeline 1, spread over DAYS days; a base backup manifest at each day boundary.
  const nowMs = Date.now();
  const dayMs = 86_400_000;
  const perDay = Math.ceil(options.segments / DAYS);
  log(`writing ${options.segments.toLocaleString('en-US')} WAL segment objects and ${DAYS + 1} base backup manifests…`);
  const writeStart = now();
  let next = 0;
  await Promise.all(
    Array.from({ length: 32 }, async () => {
      for (let i = next++; i < options.segments; i = next++) {
        const name = segmentName(1, BigInt(i + 1));
        await s3.client.send(new PutObjectCommand({ Bucket: bucket, Key: `pgwarden/${DATABASE}/wal/${name}.zst.gpg`, Body: 'x' }));
        if (i % 10_000 === 9_999) log(`  ${(i + 1).toLocaleString('en-US')} segments written`);
      }
    }),
  );
  for (let day = 0; day <= DAYS; day += 1) {
    const startSegno = BigInt(Math.min(options.segments - 1, day * perDay + 1));
    const at = nowMs - (DAYS - day) * dayMs + 60_000;
    const id = `${compactTimestamp(at)}-base-${String(day).padStart(4, '0')}`;
    const manifest = {
      manifestVersion: 1,
      id,
      database: DATABASE,
      kind: 'base',
      type: 'base',
      format: 'pg_basebackup-tar',
      tool: { name: 'pgwarden', version: 'bench' },
      server: { version: '15.18', versionNum: 150018, systemIdentifier: '7300000000000000000' },
      startedAt: new Date(at - 60_000).toISOString(),
      finishedAt: new Date(at).toISOString(),
      rawBytes: 1,
      storedBytes: 1,
      compression: { algorithm: 'zstd', level: 1 },
      encryption: { scheme: 'openpgp-symmetric-aes256', keyFingerprint }, // opens with the worker's passphrase (the plan checks)
      objects: [{ name: 'base.tar.zst.gpg', role: 'base', format: 'tar', rawBytes: 1, storedBytes: 1, sha256: '0'.repeat(64) }],
      tables: {},
      base: {
        startLsn: formatLsn(startSegno * SEGMENT + 0x28n),
        stopLsn: formatLsn(startSegno * SEGMENT + 0x1000n),
        timeline: 1,
        startWal: segmentName(1, startSegno),
        stopWal: segmentName(1, startSegno),
        startTime: new Date(at - 60_000).toISOString(),
        stopTime: new Date(at).toISOString(),
      },
    };
    await s3.client.send(new PutObjectCommand({ Bucket: bucket, Key: `pgwarden/${DATABASE}/base/${id}/manifest.json`, Body: JSON.stringify(manifest) }));
  }
  const writeMs = now() - writeStart;
  log(`written in ${fmtSeconds(writeMs)}`);

  // A worker with the database (its server need not run: planning reads the repository only).
  const dir = mkdtempSync(join(root, 'worker-'));
  chmodSync(dir, 0o755);
  const unreachable = { url: () => 'postgresql://nobody@127.0.0.1:1/busy' } as never;
  const worker = await startPgwardenWorker(
    { temporalAddress: temporal.address, passphraseFile, s3, bucket, source: unreachable, target: unreachable, database: DATABASE },
    dir,
    'pgwarden-archive',
    { databases: { [DATABASE]: 'postgresql://nobody@127.0.0.1:1/busy' }, pitr: { repository: 's3', restoreDirectory: dir } },
  );
  cleanup.add('stop worker', () => worker.stop());

  log('retention plan (expire --dry-run) through Temporal…');
  const expireStart = now();
  const handle = await startLockedWorkflow(worker.client, worker.config, 'expireWorkflow', expireWorkflowId(DATABASE), 'Retention', [{ database: DATABASE, dryRun: true }] as never, [
    ['database', DATABASE],
    ['operation', 'expire'],
  ]);
  const expired = await waitFor<ExpireResult>(handle);
  const workflowMs = now() - expireStart;
  const events = (await handle.fetchHistory()).events ?? [];
  type HistoryEvent = (typeof events)[number];
  const at = (e: HistoryEvent | undefined) => Number(e?.eventTime?.seconds ?? 0) * 1000 + Math.floor((e?.eventTime?.nanos ?? 0) / 1e6);
  const scheduled = events.find((e: HistoryEvent) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'planExpiry');
  const completed = events.find((e: HistoryEvent) => e.activityTaskCompletedEventAttributes && String(e.activityTaskCompletedEventAttributes.scheduledEventId) === String(scheduled?.eventId));
  const planMs = at(completed) - at(scheduled);
  log(`  ${fmtSeconds(workflowMs)} (planning activity ${fmtSeconds(planMs)}); ${expired.wal.count} WAL files would go`);

  log('PITR plan to "latest"…');
  // In this process, as the worker would run it: its S3 credentials, and the server's certificate as the
  // repository's CA (NODE_EXTRA_CA_CERTS counts only when a process starts).
  process.env.BENCH_S3_ACCESS_KEY_ID = s3.accessKeyId;
  process.env.BENCH_S3_SECRET_ACCESS_KEY = s3.secretAccessKey;
  const repositories = { ...worker.config.repositories, s3: { ...worker.config.repositories.s3!, caFile: s3.caFile } } as typeof worker.config.repositories;
  const activities = createActivities({ ...worker.config, repositories });
  const env = new MockActivityEnvironment();
  let heartbeats = 0;
  env.on('heartbeat', (_details: Progress) => (heartbeats += 1));
  const pitrStart = now();
  const plan = (await env.run(() => activities.planPitr({ database: DATABASE, target: 'latest', runId: 'bench' }))) as Awaited<ReturnType<typeof activities.planPitr>>;
  const pitrMs = now() - pitrStart;
  log(`  ${fmtSeconds(pitrMs)}, ${heartbeats} heartbeats; base backup ${plan.baseBackupId}, ${plan.segments} segments to replay`);

  const results: ArchiveListingResults = {
    startedAt,
    machine: await machineInfo('(no PostgreSQL server: planning reads the repository)', { versitygw: s3.version }),
    segments: options.segments,
    baseBackups: DAYS + 1,
    writeMs,
    retention: { workflowMs, planMs, walListed: options.segments, walExpired: expired.wal.count },
    pitr: { planMs: pitrMs, heartbeats, segmentsToReplay: plan.segments, window: { from: plan.window.from, to: plan.window.to } },
  };
  try {
    results.loadAverageAtEnd = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  } catch {
    /* not Linux */
  }
  return results;
}

export function renderArchiveListing(r: ArchiveListingResults): string {
  const m = r.machine;
  return [
    '# Planning over a large WAL archive',
    '',
    `${r.startedAt}. ${r.segments.toLocaleString('en-US')} WAL segment objects (${DAYS} days at a busy database's rate; names and one-byte bodies) and ` +
      `${r.baseBackups} daily base backups in one S3 repository (versitygw over https, written in ${fmtSeconds(r.writeMs)}).`,
    '',
    `**Machine**: ${m.cpuModel}, ${m.cores} cores, ${(m.ramBytes / 1024 ** 3).toFixed(1)} GiB RAM, Linux ${m.kernel} (${m.os}). ` +
      `Load average at start: ${m.loadAverageAtStart}${r.loadAverageAtEnd ? `, at the end: ${r.loadAverageAtEnd}` : ''}.`,
    '',
    '| plan | time | what it found |',
    '| --- | ---: | --- |',
    `| retention (\`pgwarden expire --dry-run\`, expireWorkflow through Temporal) | ${fmtSeconds(r.retention.workflowMs)} (planning activity ${fmtSeconds(r.retention.planMs)}) | ${r.retention.walListed.toLocaleString('en-US')} WAL files listed, ${r.retention.walExpired.toLocaleString('en-US')} outside the 7-day window |`,
    `| point-in-time restore to latest (the planning activity) | ${fmtSeconds(r.pitr.planMs)} | ${r.pitr.segmentsToReplay.toLocaleString('en-US')} segments to replay from the newest base backup; ${r.pitr.heartbeats} heartbeats while listing |`,
    '',
    'Both plans list the whole archive page by page (1,000 objects per request) and heartbeat after every page; they run with a one-hour limit ' +
      'and the 20-second heartbeat timeout of every step (workflows/policies.ts, LISTING).',
    '',
  ].join('\n');
}

export function writeArchiveListing(results: ArchiveListingResults, outDir: string): string {
  mkdirSync(outDir, { recursive: true });
  const markdown = renderArchiveListing(results);
  writeFileSync(join(outDir, 'archive-listing.md'), markdown);
  writeFileSync(join(outDir, 'archive-listing.json'), `${JSON.stringify(results, null, 2)}\n`);
  return markdown;
}
