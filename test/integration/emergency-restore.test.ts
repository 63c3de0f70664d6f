// The emergency path: a backup restored with stock tools only (scripts/emergency-restore.sh), no pgwarden code.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { libpqEnv, pgEndpoint } from '../../activities/postgres/connection.js';
import { serverBinDir } from '../../activities/postgres/binaries.js';
import { startBackup } from '../../client/api.js';
import { waitFor } from '../../client/watch.js';
import type { BackupResult } from '../../domain/backup.js';
import { fingerprint, KITCHEN_SINK_SQL } from '../harness/fixtures.js';
import { startStack, type Stack } from '../harness/stack.js';

const SCRIPT = fileURLToPath(new URL('../../../scripts/emergency-restore.sh', import.meta.url));
let stack: Stack;

before(async () => {
  stack = await startStack();
  await stack.pg.query('postgres', 'CREATE DATABASE shop');
  await stack.pg.query('shop', KITCHEN_SINK_SQL);
});

after(async () => {
  await stack?.stop();
});

test('a backup restores with gpg, zstd, pg_restore and psql alone, identical to the source', async () => {
  const config = stack.config({ shop: { db: 'shop' } });
  await stack.worker(config);
  const backup = await waitFor<BackupResult>(await startBackup(stack.env.client, config, { database: 'shop', kind: 'manual' }));
  // versitygw keeps objects as files: this folder is what `aws s3 cp --recursive` would download.
  const folder = join(stack.s3.root, stack.bucket, 'backups', 'shop', 'logical', backup.backupId);
  const env = {
    ...libpqEnv(pgEndpoint(stack.pg.url('postgres'), 'emergency')),
    BACKUP_PASSPHRASE: process.env[stack.passphraseEnv]!,
    PATH: `${serverBinDir()}:${process.env.PATH}`,
  };
  const run = await execa('bash', [SCRIPT, folder, 'shop_emergency'], { env, reject: false, all: true });
  assert.equal(run.exitCode, 0, run.all);
  assert.match(run.all ?? '', /pre-data\.pgdump\.zst\.gpg: OK/);
  assert.deepEqual(await fingerprint(stack.pg.url('shop_emergency')), await fingerprint(stack.pg.url('shop')));

  // A damaged object stops it before anything is created.
  const object = join(folder, 'post-data.pgdump.zst.gpg');
  const original = readFileSync(object);
  const damaged = Buffer.from(original);
  damaged[20]! ^= 1;
  writeFileSync(object, damaged);
  const refused = await execa('bash', [SCRIPT, folder, 'shop_emergency_2'], { env, reject: false, all: true });
  writeFileSync(object, original);
  assert.notEqual(refused.exitCode, 0);
  assert.match(refused.all ?? '', /post-data\.pgdump\.zst\.gpg: FAILED/);
  assert.ok(!(await stack.pg.databases()).includes('shop_emergency_2'));
});
