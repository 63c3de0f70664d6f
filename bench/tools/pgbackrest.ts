// pgBackRest, the physical-backup peer: a full backup of the source cluster to a repository on the same S3
// server, and its restore into a new data directory, started until it accepts connections and until it is
// promoted (writable). WAL reaches the repository through archive_command = pgbackrest archive-push.
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import pg from 'pg';
import { freePort, LocalCluster } from '../../activities/postgres/cluster.js';
import { SUPERUSER } from '../../test/harness/postgres.js';
import type { BenchContext, BenchTool, Measurement } from '../context.js';
import { RssSampler } from '../rss.js';
import { aptInstall, check, now, runAs } from '../util.js';
import { sleep } from '../../activities/sleep.js';

const STANZA = 'bench';

/** pgBackRest's version, installing the Debian package first when it is missing and we are root. */
export async function ensurePgbackrest(): Promise<string> {
  const probe = await execa('pgbackrest', ['version'], { reject: false });
  if (probe.exitCode === 0) return probe.stdout.trim();
  await aptInstall(['pgbackrest'], 'or leave it out with --tools runbook,pgwarden');
  return (await execa('pgbackrest', ['version'])).stdout.trim();
}

interface InfoBackup {
  label: string;
  type: string;
  info: { size: number; delta: number; repository: { size: number; delta: number } };
  timestamp: { start: number; stop: number };
}

export function pgbackrestTool(): BenchTool {
  let dir = '';
  let conf = '';
  const restored: LocalCluster[] = [];

  const pgbackrest = (ctx: BenchContext, args: string[]) => runAs(ctx.user, 'pgbackrest', [`--config=${conf}`, `--stanza=${STANZA}`, ...args], { PGPASSWORD: ctx.source.password });

  async function info(ctx: BenchContext): Promise<InfoBackup[]> {
    const result = await pgbackrest(ctx, ['--output=json', 'info']);
    check(result, 'pgbackrest info');
    const parsed = JSON.parse(String(result.stdout)) as Array<{ backup: InfoBackup[] }>;
    return parsed[0]?.backup ?? [];
  }

  return {
    name: 'pgbackrest',
    label: 'pgBackRest',
    describe: (ctx) =>
      `pgBackRest full backup of the whole cluster (${ctx.options.pgbackrestCipher === 'none' ? 'unencrypted' : 'repo1-cipher-type=aes-256-cbc'}, ` +
      'compress-type=zst compress-level=3 process-max=2 start-fast=y) to repo1-type=s3 on the same versitygw (https, path style). ' +
      'Restore: pgbackrest restore (process-max=2, --archive-mode=off) into a new data directory, pg_ctl start -w (accepts connections), ' +
      'then until pg_is_in_recovery() is false (WAL replayed from the archive, promoted). Wall time is to writable.',

    async setup(ctx) {
      dir = mkdtempSync(join(ctx.root, 'pgbackrest-'));
      chmodSync(dir, 0o755);
      for (const sub of ['lock', 'log', 'spool']) mkdirSync(join(dir, sub));
      conf = join(dir, 'pgbackrest.conf');
      const cipher = ctx.options.pgbackrestCipher === 'none' ? [] : ['repo1-cipher-type=aes-256-cbc', `repo1-cipher-pass=${ctx.passphrase}`];
      writeFileSync(
        conf,
        [
          '[global]',
          'repo1-type=s3',
          'repo1-path=/pgbackrest',
          `repo1-s3-bucket=${ctx.bucket}`,
          `repo1-s3-endpoint=${ctx.s3.host}`,
          `repo1-storage-port=${ctx.s3.port}`,
          'repo1-s3-region=us-east-1',
          `repo1-s3-key=${ctx.s3.accessKeyId}`,
          `repo1-s3-key-secret=${ctx.s3.secretAccessKey}`,
          'repo1-s3-uri-style=path',
          // pgBackRest 2.45 verifies the host only against the certificate's DNS names, never an IP address.
          'repo1-storage-verify-tls=n',
          'repo1-retention-full=1000',
          ...cipher,
          'compress-type=zst',
          'compress-level=3',
          'process-max=2',
          'start-fast=y',
          `lock-path=${join(dir, 'lock')}`,
          `log-path=${join(dir, 'log')}`,
          `spool-path=${join(dir, 'spool')}`,
          'log-level-console=warn',
          'log-level-file=info',
          '',
          `[${STANZA}]`,
          `pg1-path=${ctx.source.cluster.dataDir}`,
          `pg1-port=${ctx.source.cluster.port}`,
          `pg1-socket-path=${ctx.source.cluster.dataDir}`,
          `pg1-user=${SUPERUSER}`,
          '',
        ].join('\n'),
        { mode: 0o600 },
      );
      ctx.source.cluster.own(dir);
      // The source cluster starts with archive_mode=on and archive_command=/bin/true (the load's WAL is not kept);
      // from here on every segment goes to pgBackRest.
      await ctx.source.query('postgres', `ALTER SYSTEM SET archive_command = 'pgbackrest --config=${conf} --stanza=${STANZA} archive-push %p'`);
      await ctx.source.query('postgres', 'SELECT pg_reload_conf()');
      check(await pgbackrest(ctx, ['stanza-create']), 'pgbackrest stanza-create');
      check(await pgbackrest(ctx, ['check']), 'pgbackrest check');
    },

    async round(ctx, round): Promise<Measurement[]> {
      // Backup.
      const backupStart = now();
      const child = pgbackrest(ctx, ['--type=full', 'backup']);
      const sampler = new RssSampler(child.pid!).start();
      const result = await child;
      const backupMs = now() - backupStart;
      const backupMem = sampler.stop();
      check(result, 'pgbackrest backup');
      const backups = await info(ctx);
      const latest = backups.at(-1);
      if (!latest) throw new Error('pgbackrest info lists no backup after a backup');
      const backup: Measurement = {
        tool: 'pgbackrest',
        operation: 'backup',
        round,
        wallMs: backupMs,
        phases: { 'pgbackrest backup': backupMs },
        storedBytes: latest.info.repository.size,
        treePeakRssBytes: backupMem.treeRssSampled,
        notes: { label: latest.label, clusterBytes: latest.info.size },
      };

      // Restore into a new data directory, start it, wait until it is promoted.
      const dataDir = join(dir, `restore-r${round}`);
      mkdirSync(dataDir, { mode: 0o700 });
      ctx.source.cluster.own(dataDir);
      const port = await freePort();
      const restoreStart = now();
      const restoreChild = pgbackrest(ctx, [`--set=${latest.label}`, `--pg1-path=${dataDir}`, '--archive-mode=off', 'restore']);
      const restoreSampler = new RssSampler(restoreChild.pid!).start();
      check(await restoreChild, 'pgbackrest restore');
      const restoreMem = restoreSampler.stop();
      const filesMs = now() - restoreStart;
      const cluster = new LocalCluster({ dataDir, binDir: ctx.pgBin, port, ...(ctx.user ? { user: ctx.user } : {}) });
      restored.push(cluster);
      cluster.configure([`unix_socket_directories = '${dataDir}'`]);
      await cluster.start();
      const acceptsMs = now() - restoreStart;
      const url = cluster.url(SUPERUSER, ctx.source.password, ctx.database);
      for (;;) {
        const client = new pg.Client({ connectionString: url });
        await client.connect();
        const { rows } = await client.query<{ r: boolean }>('SELECT pg_is_in_recovery() AS r');
        await client.end();
        if (!rows[0]!.r) break;
        await sleep(50);
      }
      const restoreMs = now() - restoreStart;
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      const orders = Number((await client.query<{ n: string }>('SELECT count(*) AS n FROM orders')).rows[0]!.n);
      await client.end();
      await cluster.stop('immediate');
      restored.splice(restored.indexOf(cluster), 1);
      rmSync(dataDir, { recursive: true, force: true });
      const restore: Measurement = {
        tool: 'pgbackrest',
        operation: 'restore',
        round,
        wallMs: restoreMs,
        writableMs: restoreMs,
        phases: { 'pgbackrest restore (files)': filesMs, 'pg_ctl start -w (accepts connections)': acceptsMs - filesMs, 'until promoted (writable)': restoreMs - acceptsMs },
        treePeakRssBytes: restoreMem.treeRssSampled,
        notes: { label: latest.label, ordersRestored: orders, acceptsConnectionsMs: acceptsMs },
      };
      return [backup, restore];
    },

    async teardown(ctx) {
      for (const cluster of restored) await cluster.stop('immediate').catch(() => undefined);
      // Stop archiving into a repository that is about to disappear.
      await ctx.source.query('postgres', `ALTER SYSTEM SET archive_command = '/bin/true'`).catch(() => undefined);
      await ctx.source.query('postgres', 'SELECT pg_reload_conf()').catch(() => undefined);
      if (dir && existsSync(dir) && !ctx.options.keepTemp) rmSync(dir, { recursive: true, force: true });
    },
  };
}
