// The runbook's nightly script, step by step: pg_dump | gzip > file; gpg --symmetric; upload to S3. Its restore:
// download; gpg --decrypt; gunzip | psql into a new database. Each step is timed on its own.
import { chmodSync, createReadStream, createWriteStream, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { execa } from 'execa';
import { libpqEnv, pgEndpoint } from '../../activities/postgres/connection.js';
import type { BenchContext, BenchTool, Measurement } from '../context.js';
import { timedStep as step } from '../rss.js';
import { MiB, now, stopGpgAgent, warmUpGpg } from '../util.js';

/** Like `aws s3 cp`, but in Node: @aws-sdk/lib-storage multipart upload, parts and concurrency as pgwarden's defaults. */
const PART_SIZE = 16 * MiB;
const QUEUE_SIZE = 4;

export function runbookTool(): BenchTool {
  let dir = '';
  let gpgHome = '';
  const gpg = (ctx: BenchContext) => ['--homedir', gpgHome, '--batch', '--quiet', '--pinentry-mode', 'loopback', '--passphrase-file', ctx.passphraseFile];

  return {
    name: 'runbook',
    label: 'runbook script',
    describe: () =>
      'pg_dump (plain SQL) | gzip -6 > file; gpg --symmetric --cipher-algo AES256 (temp --homedir, loopback pinentry, its default compression); ' +
      `upload of the .gpg with @aws-sdk/lib-storage (${PART_SIZE / MiB} MiB parts, ${QUEUE_SIZE} at once). Restore: download (GetObject), gpg --decrypt, ` +
      'CREATE DATABASE, gunzip -c | psql -v ON_ERROR_STOP=1 (no ANALYZE, no verification).',

    async setup(ctx) {
      dir = mkdtempSync(join(ctx.root, 'runbook-'));
      gpgHome = join(dir, 'gnupg');
      mkdirSync(gpgHome, { mode: 0o700 });
      chmodSync(gpgHome, 0o700);
      await warmUpGpg(gpg(ctx), dir);
    },

    async round(ctx, round): Promise<Measurement[]> {
      const sourceEnv = libpqEnv(pgEndpoint(ctx.source.url(ctx.database), 'runbook'));
      const gz = join(dir, `${ctx.database}.sql.gz`);
      const encrypted = `${gz}.gpg`;
      const key = `runbook/${ctx.database}-${new Date().toISOString().replace(/[:.]/g, '')}-r${round}.sql.gz.gpg`;

      // Backup.
      const backupStart = now();
      const dump = await step(
        execa('bash', ['-c', 'set -o pipefail; "$PG_DUMP" | gzip > "$OUT"'], { env: { ...sourceEnv, PG_DUMP: `${ctx.pgBin}/pg_dump`, OUT: gz }, reject: false, stdin: 'ignore' }),
        'pg_dump | gzip',
      );
      const encrypt = await step(execa('gpg', [...gpg(ctx), '--symmetric', '--cipher-algo', 'AES256', '-o', encrypted, gz], { reject: false, stdin: 'ignore' }), 'gpg --symmetric');
      const uploadStart = now();
      await new Upload({
        client: ctx.s3.client,
        params: { Bucket: ctx.bucket, Key: key, Body: createReadStream(encrypted) },
        partSize: PART_SIZE,
        queueSize: QUEUE_SIZE,
      }).done();
      const uploadMs = now() - uploadStart;
      const backupMs = now() - backupStart;
      const storedBytes = statSync(encrypted).size;
      const gzBytes = statSync(gz).size;
      rmSync(gz);
      rmSync(encrypted);
      const backup: Measurement = {
        tool: 'runbook',
        operation: 'backup',
        round,
        wallMs: backupMs,
        phases: { 'pg_dump | gzip': dump.ms, 'gpg --symmetric': encrypt.ms, upload: uploadMs },
        storedBytes,
        treePeakRssBytes: Math.max(dump.treePeak, encrypt.treePeak),
        notes: { gzipBytes: gzBytes, key },
      };

      // Restore into a new database on the restore server.
      const target = `${ctx.database}_runbook_r${round}`;
      const targetEnv = libpqEnv(pgEndpoint(ctx.target.url('postgres'), 'runbook restore'));
      const restoreStart = now();
      const object = await ctx.s3.client.send(new GetObjectCommand({ Bucket: ctx.bucket, Key: key }));
      await pipeline(object.Body as Readable, createWriteStream(encrypted));
      const downloadMs = now() - restoreStart;
      const decrypt = await step(execa('gpg', [...gpg(ctx), '--decrypt', '-o', gz, encrypted], { reject: false, stdin: 'ignore' }), 'gpg --decrypt');
      const load = await step(
        execa('bash', ['-c', 'set -o pipefail; "$PSQL" -X -q -v ON_ERROR_STOP=1 -d postgres -c "CREATE DATABASE $TARGET" && gunzip -c "$IN" | "$PSQL" -X -q -v ON_ERROR_STOP=1 -d "$TARGET" >/dev/null'], {
          env: { ...targetEnv, PSQL: `${ctx.pgBin}/psql`, IN: gz, TARGET: target },
          reject: false,
          stdin: 'ignore',
        }),
        'gunzip | psql',
      );
      const restoreMs = now() - restoreStart;
      rmSync(gz, { force: true });
      rmSync(encrypted, { force: true });
      await ctx.target.query('postgres', `DROP DATABASE IF EXISTS ${target} WITH (FORCE)`);
      const restore: Measurement = {
        tool: 'runbook',
        operation: 'restore',
        round,
        wallMs: restoreMs,
        phases: { download: downloadMs, 'gpg --decrypt': decrypt.ms, 'createdb, gunzip | psql': load.ms },
        treePeakRssBytes: Math.max(decrypt.treePeak, load.treePeak),
      };
      return [backup, restore];
    },

    async teardown() {
      if (gpgHome) await stopGpgAgent(gpgHome);
      if (dir) rmSync(dir, { recursive: true, force: true });
    },
  };
}
