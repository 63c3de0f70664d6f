// pgwarden's physical peer of pgBackRest: a base backup of the source cluster (pg_basebackup, one tar stream,
// zstd | gpg, multipart upload) into the same S3 server, WAL archived by `pgwarden wal-push --async` (chained
// after pgBackRest's archive-push on the same cluster), and a point-in-time restore to the latest archived WAL
// into a new data directory, measured until the restored cluster is writable (promoted: what pgBackRest's row is timed
// to) and until the workflow's result (verified), with the phases in between.
import { chmodSync, chownSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { serverBinDir } from '../../activities/postgres/binaries.js';
import { LocalCluster } from '../../activities/postgres/cluster.js';
import { startBaseBackup, startPitr } from '../../client/api.js';
import { waitFor } from '../../client/watch.js';
import type { BaseBackupResult } from '../../domain/basebackup.js';
import type { PitrResult } from '../../domain/pitr.js';
import { makeReachable } from '../../test/harness/archiving.js';
import type { BenchContext, BenchTool, Measurement } from '../context.js';
import { CpuMeter } from '../cpu.js';
import { describeTimeline, workflowTimeline } from '../history.js';
import { memoryOf, resetPeak, RssSampler } from '../rss.js';
import { log, now } from '../util.js';
import { caBundle, PGWARDEN_DB, startPgwardenWorker, type PgwardenWorker } from './pgwarden.js';

const CLI = fileURLToPath(new URL('../../client/cli.js', import.meta.url));

export function pgwardenPitrTool(): BenchTool {
  let dir = '';
  let worker: PgwardenWorker | undefined;
  return {
    name: 'pgwarden-pitr',
    label: 'pgwarden base backup + PITR',
    comparesTo: ['pgbackrest'],
    describe: () =>
      'baseBackupWorkflow (pg_basebackup -Ft -X none of the whole cluster, zstd -1 -T0 | gpg AES-256, multipart upload; complete once its WAL ' +
      'is archived) and pitrWorkflow to "latest": coverage checked, base backup into a new data directory (pg_verifybackup), WAL through ' +
      '`pgwarden wal-fetch` with prefetch, promoted, settled as a primary (restarted without recovery\'s secrets) and every database opened. ' +
      'Wall time is to the workflow\'s result (verified); time to writable is from the start to PitrResult.writableAt (when the worker first saw ' +
      'pg_is_in_recovery() false, probing every 100 ms), and is what is compared with pgBackRest\'s time to writable.',

    async setup(ctx) {
      dir = mkdtempSync(join(ctx.root, 'pgwarden-pitr-'));
      chmodSync(dir, 0o755);
      makeReachable(); // the cluster's OS user runs dist/client/cli.js for wal-push and wal-fetch
      // The archive commands run as the cluster's user: the passphrase file must be readable by it.
      const passphraseFile = join(dir, 'passphrase');
      writeFileSync(passphraseFile, `${ctx.passphrase}\n`, { mode: 0o600 });
      if (ctx.user) chownSync(passphraseFile, ctx.user.uid, ctx.user.gid);
      worker = await startPgwardenWorker(ctx, dir, 'pgwarden-bench-pitr', {
        passphraseFile,
        pitr: { repository: 's3', ...(ctx.user ? { runAs: ctx.user.name } : {}), restoreDirectory: dir },
      });
      log(`pgwarden PITR worker pid ${worker.pid} polls task queue "pgwarden-bench-pitr"`);

      // WAL goes to both archives: pgBackRest's archive-push (when that tool runs), then pgwarden's.
      const current = (await ctx.source.query<{ a: string }>('postgres', "SELECT current_setting('archive_command') AS a")).rows[0]!.a;
      const push = `${process.execPath} ${CLI} --config ${worker.configFile} wal-push --db ${PGWARDEN_DB} --async %p`;
      await ctx.source.query('postgres', `ALTER SYSTEM SET archive_command = '${`${current} && ${push}`.replace(/'/g, "''")}'`);
      // The postmaster passes its environment to archive_command: restart it with the S3 credentials and CA.
      await ctx.source.cluster.stop();
      await ctx.source.cluster.start(600, {
        BENCH_S3_ACCESS_KEY_ID: ctx.s3.accessKeyId,
        BENCH_S3_SECRET_ACCESS_KEY: ctx.s3.secretAccessKey,
        NODE_EXTRA_CA_CERTS: caBundle(ctx, dir),
      });
      await ctx.source.query('postgres', 'SELECT pg_switch_wal()'); // the archive starts with a closed segment
    },

    async round(ctx, round): Promise<Measurement[]> {
      const w = worker!;
      const rssBefore = memoryOf(w.pid)?.rss ?? 0;
      resetPeak(w.pid);
      let sampler = new RssSampler(w.pid).start();
      let cpu = new CpuMeter(w.pid);
      const backupStart = now();
      const base = await waitFor<BaseBackupResult>(await startBaseBackup(w.client, w.config, { database: PGWARDEN_DB }));
      const backupMs = now() - backupStart;
      let workerCpuMs = cpu.stop();
      let mem = sampler.stop();
      const backupRow: Measurement = {
        tool: 'pgwarden-pitr',
        operation: 'backup',
        round,
        wallMs: backupMs,
        phases: { 'pg_basebackup into the repository': base.copyMs, 'waiting for its WAL': base.walWaitMs },
        storedBytes: base.storedBytes,
        workerPeakRssBytes: mem.processHwm ?? mem.processRssSampled,
        treePeakRssBytes: mem.treeRssSampled,
        ...(workerCpuMs !== undefined ? { workerCpuMs } : {}),
        notes: { backupId: base.backupId, rawBytes: base.rawBytes, workerRssBeforeBytes: rssBefore },
      };

      resetPeak(w.pid);
      sampler = new RssSampler(w.pid).start();
      cpu = new CpuMeter(w.pid);
      const restoreStartedAt = Date.now(); // writableAt is a wall-clock time (the worker's, on this machine)
      const restoreStart = now();
      const handle = await startPitr(w.client, w.config, { database: PGWARDEN_DB, target: 'latest', datadir: join(dir, `pitr-r${round}`) });
      const pitr = await waitFor<PitrResult>(handle);
      const restoreMs = now() - restoreStart;
      const restoreEndedAt = Date.now();
      workerCpuMs = cpu.stop();
      mem = sampler.stop();
      // The restored server's own account of its recovery, before its data directory goes: where its time went.
      const recoveryLog = join(pitr.datadir, 'pgwarden', 'recovery.log');
      const milestones = existsSync(recoveryLog) ? recoveryMilestones(readFileSync(recoveryLog, 'utf8')) : undefined;
      await new LocalCluster({ dataDir: pitr.datadir, binDir: serverBinDir(), port: pitr.port, ...(ctx.user ? { user: ctx.user } : {}) }).stop('immediate');
      rmSync(pitr.datadir, { recursive: true, force: true });
      const writableMs = pitr.writableAt !== undefined ? Date.parse(pitr.writableAt) - restoreStartedAt : undefined;
      // Where Temporal's share of the time went (untimed): each activity's wait for a worker and its run.
      const timeline = await workflowTimeline(handle).catch(() => undefined);
      const restoreRow: Measurement = {
        tool: 'pgwarden-pitr',
        operation: 'restore',
        round,
        wallMs: restoreMs,
        ...(writableMs !== undefined ? { writableMs } : {}),
        phases: pitrPhases(pitr, restoreMs, writableMs),
        workerPeakRssBytes: mem.processHwm ?? mem.processRssSampled,
        treePeakRssBytes: mem.treeRssSampled,
        ...(workerCpuMs !== undefined ? { workerCpuMs } : {}),
        notes: {
          segmentsRestored: pitr.segmentsRestored,
          timeline: pitr.timeline,
          ...(pitr.writableAt ? { writableAt: pitr.writableAt } : {}),
          ...(milestones ? { recoveryMilestones: milestones } : {}),
          ...(pitr.walStaged !== undefined ? { walStaged: pitr.walStaged } : {}),
          ...(pitr.baseFilesMs !== undefined ? { baseFilesMs: pitr.baseFilesMs } : {}),
          ...(pitr.walStagedMs !== undefined ? { walStagedMs: pitr.walStagedMs } : {}),
          ...(timeline
            ? {
                workflowTimeline: describeTimeline(timeline),
                clientToWorkflowStartMs: timeline.startedAt - restoreStartedAt,
                ...(timeline.completedAt !== undefined ? { workflowEndToClientMs: restoreEndedAt - (timeline.startedAt + timeline.completedAt) } : {}),
              }
            : {}),
        },
      };
      return [backupRow, restoreRow];
    },

    async teardown() {
      await worker?.stop();
    },
  };
}

/**
 * The restore's phases, in order, adding up to its wall time: what the workflow does before and between its long steps
 * (plan and archive listing, leases, recovery settings, Temporal), the base backup, replay until the server is
 * writable, then what pgwarden does after that (settling as a primary, a restart without recovery's secrets, the
 * verification, the result). A worker without the timing fields gives the two phases it used to.
 */
export function pitrPhases(pitr: Pick<PitrResult, 'baseRestoreMs' | 'recoveryMs' | 'promotedMs' | 'verifyMs'>, wallMs: number, writableMs: number | undefined): Record<string, number> {
  if (writableMs === undefined || pitr.promotedMs === undefined || pitr.verifyMs === undefined) {
    return { 'base backup into a new data directory': pitr.baseRestoreMs, 'WAL replay until promoted, settled as a primary': pitr.recoveryMs };
  }
  const settle = pitr.recoveryMs - pitr.promotedMs;
  return {
    'workflow start, plan, lease, recovery settings (the rest until writable)': writableMs - pitr.baseRestoreMs - pitr.promotedMs,
    'base backup into a new data directory': pitr.baseRestoreMs,
    'server started, WAL replay until promoted (writable)': pitr.promotedMs,
    'after writable: settled as a primary, restarted without recovery\'s secrets': settle,
    'after writable: verified (every database opened)': pitr.verifyMs,
    'after writable: lease released, the result to the client': wallMs - writableMs - settle - pitr.verifyMs,
  };
}

/** What the restored server's log says, in order, with the seconds since the postmaster started. */
const MILESTONES: Array<[RegExp, string]> = [
  [/LOG: {2}starting archive recovery/, 'archive recovery starts'],
  [/LOG: {2}redo starts at/, 'redo starts'],
  [/LOG: {2}consistent recovery state reached/, 'consistent'],
  [/LOG: {2}redo done at/, 'redo done'],
  [/LOG: {2}selected new timeline ID/, 'new timeline selected'],
  [/LOG: {2}archive recovery complete/, 'archive recovery complete'],
  [/LOG: {2}checkpoint starting: end-of-recovery/, 'end-of-recovery checkpoint'],
  [/LOG: {2}database system is ready to accept connections/, 'accepts connections (writable)'],
];

/**
 * One line from the restored server's log (pgwarden/recovery.log): when (seconds after "starting PostgreSQL") recovery
 * reached each milestone, how many segments restore_command brought, and those it brought after redo was done (at
 * the end of recovery PostgreSQL asks for the last segment again, and for the parent timeline's history file).
 * Only the first start of the server (the restart without recovery's secrets comes after).
 */
export function recoveryMilestones(log: string): string | undefined {
  const lines = log.split('\n');
  const at = (line: string) => Date.parse(`${line.slice(0, 23).replace(' ', 'T')}Z`);
  const first = lines.findIndex((l) => /LOG: {2}starting PostgreSQL/.test(l));
  if (first < 0 || Number.isNaN(at(lines[first]!))) return undefined;
  const t0 = at(lines[first]!);
  const end = lines.findIndex((l, i) => i > first && /LOG: {2}database system is ready to accept connections/.test(l));
  const span = lines.slice(first, end < 0 ? undefined : end + 1);
  const s = (line: string) => ((at(line) - t0) / 1000).toFixed(3);
  const parts: string[] = [];
  for (const [pattern, name] of MILESTONES) {
    const line = span.find((l) => pattern.test(l));
    if (line) parts.push(`${name} ${s(line)}`);
  }
  const restored = span.filter((l) => /restored log file "/.test(l));
  const done = span.findIndex((l) => /LOG: {2}redo done at/.test(l));
  const after = done < 0 ? [] : span.slice(done).filter((l) => /restored log file "/.test(l));
  parts.push(`${restored.length} restored by restore_command${after.length ? ` (${after.length} after redo done, the last at ${s(after.at(-1)!)})` : ''}`);
  return parts.join(', ');
}
