// Keys that rotate and keys kept offline: envelope encryption, public-key recipients, rekey, old backups, and
// S3 Object Lock, on real Temporal, PostgreSQL, gpg and versitygw.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { stringify } from 'yaml';
import { DeleteObjectCommand, GetObjectRetentionCommand, HeadObjectCommand, ListObjectVersionsCommand } from '@aws-sdk/client-s3';
import { backupFolder, readManifest } from '../../activities/catalog/manifest.js';
import { libpqEnv, pgEndpoint } from '../../activities/postgres/connection.js';
import { serverBinDir } from '../../activities/postgres/binaries.js';
import { openRepository } from '../../activities/storage/open.js';
import { fetchWalBytes, pushWalFile } from '../../activities/wal/archive.js';
import { openArchive } from '../../activities/wal/open.js';
import { startBackup, startLockedWorkflow, startRestore } from '../../client/api.js';
import { waitFor } from '../../client/watch.js';
import { PgwardenError } from '../../domain/errors.js';
import type { Config, ConfigInput } from '../../config/schema.js';
import { expireWorkflowId, rekeyWorkflowId } from '../../domain/ids.js';
import type { BackupResult } from '../../domain/backup.js';
import type { ExpireResult } from '../../domain/expire.js';
import type { RekeyResult } from '../../domain/rekey.js';
import type { RestoreResult } from '../../domain/restore.js';
import { CLI } from '../harness/archiving.js';
import { secretEnv, testConfig } from '../harness/config.js';
import { makeKey, type TestKey } from '../harness/keys.js';
import { startS3, type TestS3 } from '../harness/s3.js';
import { startStack, type Stack } from '../harness/stack.js';

const FIXTURE = fileURLToPath(new URL('../../../test/fixtures/repository-before-envelope/', import.meta.url));
const SCRIPT = fileURLToPath(new URL('../../../scripts/emergency-restore.sh', import.meta.url));

let stack: Stack;
let lockS3: TestS3;
let ops: TestKey; // the team's key: backups are wrapped for it
let stranger: TestKey; // somebody else's key
let protectedKey: TestKey; // a key with a passphrase of its own

before(async () => {
  [stack, lockS3, ops, stranger, protectedKey] = await Promise.all([
    startStack(),
    startS3({ versioning: true }),
    makeKey('pgwarden ops'),
    makeKey('somebody else'),
    makeKey('pgwarden protected', 'key passphrase'),
  ]);
  await lockS3.createBucket('locked', { objectLock: true });
  await stack.pg.query('postgres', 'CREATE DATABASE shop');
  await stack.pg.query('shop', 'CREATE TABLE items (id int PRIMARY KEY, name text); INSERT INTO items SELECT g, md5(g::text) FROM generate_series(1, 500) g');
  await stack.pg.query('postgres', 'CREATE DATABASE legacy');
});

after(async () => {
  await lockS3?.stop();
  await stack?.stop();
});

/**
 * A configuration over the stack with `encryption` (and anything else) replaced. Each test names the database
 * `name` (the test cluster's `db`), so that its backups and WAL keys are its own.
 */
function configWith(name: string, encryption: ConfigInput['encryption'], extra: (input: ConfigInput) => void = () => undefined, db = 'shop'): Config {
  const input = stack.configInput({ [name]: { db, repositories: ['s3', 'local'] } });
  input.encryption = encryption;
  extra(input);
  return testConfig(input);
}

const only = (config: Config) => Object.keys(config.databases)[0]!;

/** One worker per configuration (its own task queue). */
const working = new WeakSet<Config>();
async function worker(config: Config): Promise<void> {
  if (working.has(config)) return;
  working.add(config);
  await stack.worker(config);
}

async function backup(config: Config): Promise<BackupResult> {
  await worker(config);
  return waitFor<BackupResult>(await startBackup(stack.env.client, config, { database: only(config), kind: 'manual' }));
}

async function restore(config: Config, backupId: string, target: string): Promise<RestoreResult> {
  await worker(config);
  return waitFor<RestoreResult>(await startRestore(stack.env.client, config, { database: only(config), backup: backupId, target }));
}

/** A restore that must fail in its plan: the activity that creates the staging database never starts. */
async function refusedInPlan(config: Config, backupId: string, kind: string, message: RegExp): Promise<void> {
  await worker(config);
  const handle = await startRestore(stack.env.client, config, { database: only(config), backup: backupId, target: `refused_${backupId.slice(-4)}` });
  await refused(waitFor(handle), kind, message);
  const history = await handle.fetchHistory();
  const activities = (history.events ?? []).map((e) => e.activityTaskScheduledEventAttributes?.activityType?.name).filter(Boolean);
  assert.deepEqual(activities, ['planRestore'], 'nothing after the plan ran: no database was created');
}

async function refused(run: Promise<unknown>, kind: string, message: RegExp): Promise<void> {
  await assert.rejects(run, (error: unknown) => {
    assert.ok(error instanceof PgwardenError, String(error));
    assert.equal(error.kind, kind, error.message);
    assert.match(error.message, message);
    return true;
  });
}

async function noRestoredDatabases(): Promise<void> {
  const databases = await stack.pg.databases();
  assert.deepEqual(databases.filter((d) => d.includes('_pgwrestore_') || d.startsWith('refused')), [], 'no database was created');
}

const passphrase = (value: string, stem: string) => ({ passphraseEnv: secretEnv(value, stem) });

describe('envelope encryption', () => {
  test('a backup made before envelope encryption restores after it, with the passphrase it was made with', async () => {
    cpSync(join(FIXTURE, 'legacy'), join(stack.fsPath, 'legacy'), { recursive: true });
    const config = configWith('legacy', passphrase('legacy fixture passphrase (test only)', 'PGWARDEN_TEST_LEGACY'), (input) => {
      input.databases.legacy!.repositories = ['local'];
    }, 'legacy');
    const restored = await restore(config, '20261125T230000Z', 'legacy_restored');
    assert.equal(restored.rowCountsMatch, true);
    assert.equal(restored.rows, 160);
    const counts = await stack.pg.query<{ c: string; o: string }>('legacy_restored', 'SELECT (SELECT count(*) FROM customers) AS c, (SELECT count(*) FROM orders) AS o');
    assert.deepEqual(counts.rows[0], { c: '40', o: '120' });
    // After a rotation it still opens, with the old passphrase kept under previous.
    const rotated = configWith('legacy', { ...passphrase('the new one', 'PGWARDEN_TEST_NEW'), previous: [passphrase('legacy fixture passphrase (test only)', 'PGWARDEN_TEST_LEGACY')] }, (input) => {
      input.databases.legacy!.repositories = ['local'];
    }, 'legacy');
    assert.equal((await restore(rotated, '20261125T230000Z', 'legacy_restored_2')).rows, 160);
  });

  test('objects are encrypted with the data key, which stock gpg opens in two steps', async () => {
    const config = configWith('steps', passphrase('two steps', 'PGWARDEN_TEST_PASS'));
    const made = await backup(config);
    const folder = join(stack.s3.root, stack.bucket, 'backups', 'steps', 'logical', made.backupId);
    const home = mkdtempSync(join(tmpdir(), 'pgwarden-test-gnupg-'));
    const gpg = (args: string[], input?: string) => execa('gpg', ['--homedir', home, '--batch', '--quiet', ...args], { ...(input !== undefined ? { input } : {}), encoding: 'buffer' });
    try {
      // Step 1: the data key, with the passphrase. Step 2: an object, with the data key.
      const dataKey = Buffer.from((await gpg(['--pinentry-mode', 'loopback', '--passphrase-fd', '0', '--decrypt', join(folder, 'datakey.asc')], 'two steps')).stdout).toString().trim();
      assert.match(dataKey, /^[0-9a-f]{64}$/);
      // A table's rows (data-0000 is pg_dump's own stream: sequence values, large objects).
      const data = readdirSync(folder).find((f) => f.startsWith('data-') && !f.startsWith('data-0000'))!;
      const plain = await execa('bash', ['-c', `gpg --homedir ${home} --batch --quiet --passphrase-fd 3 --decrypt ${data} 3<<<"$KEY" | zstd -d`], { cwd: folder, env: { KEY: dataKey } });
      assert.match(plain.stdout, /COPY public\.items/);
      // No key stretching per object: gpg's salted S2K (mode 1), not the iterated one of the passphrase.
      const packets = Buffer.from((await gpg(['--pinentry-mode', 'loopback', '--passphrase', dataKey, '--list-packets', join(folder, data)])).stdout).toString();
      assert.match(packets, /symkey enc packet: version 4, cipher 9, aead 0,s2k 1, hash 8/);
    } finally {
      await execa('gpgconf', ['--homedir', home, '--kill', 'gpg-agent'], { reject: false });
    }
    // The passphrase fingerprint is salted with the repository's own salt, not a fixed one.
    const salt = (JSON.parse(readFileSync(join(stack.s3.root, stack.bucket, 'backups', 'repository.json'), 'utf8')) as { fingerprintSalt: string }).fingerprintSalt;
    const manifest = await readManifest(openRepository(config, 's3'), backupFolder('steps', 'logical', made.backupId));
    assert.ok(manifest?.encryption.scheme === 'openpgp-envelope-v1');
    assert.match(manifest.encryption.keys[0]!.fingerprint, new RegExp(`^scrypt:${salt}:[0-9a-f]{16}$`));
    await backup(configWith('steps', passphrase('two steps', 'PGWARDEN_TEST_PASS'), (input) => (input.databases.steps!.repositories = ['local'])));
    const otherSalt = (JSON.parse(readFileSync(join(stack.fsPath, 'repository.json'), 'utf8')) as { fingerprintSalt: string }).fingerprintSalt;
    assert.notEqual(otherSalt, salt, 'each repository has a salt of its own');
  });

  test('a worker with public keys only backs up and archives WAL, and is refused clearly when asked to restore', async () => {
    const publicOnly = configWith('publiconly', { recipients: [{ file: ops.publicFile }] });
    const made = await backup(publicOnly);
    const manifest = await readManifest(openRepository(publicOnly, 's3'), backupFolder('publiconly', 'logical', made.backupId));
    assert.ok(manifest?.encryption.scheme === 'openpgp-envelope-v1');
    assert.deepEqual(manifest.encryption.keys, [{ type: 'openpgp', fingerprint: ops.fingerprint, userId: 'pgwarden ops' }]);

    // WAL too: a segment of the test cluster, pushed with the public key alone.
    const { rows } = await stack.pg.query<{ name: string }>('postgres', 'SELECT pg_walfile_name(pg_switch_wal()) AS name');
    const segment = join(stack.pg.cluster.dataDir, 'pg_wal', rows[0]!.name);
    const spool = mkdtempSync(join(tmpdir(), 'pgwarden-test-spool-'));
    const archive = openArchive(publicOnly, 'publiconly', { spool });
    assert.equal(await pushWalFile(archive.repo, 'publiconly', segment, archive.settings, archive.keys, { dataDirectory: stack.pg.cluster.dataDir }), 'archived');
    assert.equal((statSync(join(spool, 'keys', 'push.json')).mode & 0o777).toString(8), '600', "the day's key is kept private in the spool");
    await refused(fetchWalBytes(archive.repo, 'publiconly', rows[0]!.name, openArchive(publicOnly, 'publiconly').keys), 'Config', /only public keys .* cannot open/);

    await refusedInPlan(
      publicOnly,
      made.backupId,
      'Config',
      /This worker has only public keys \(encryption\.recipients\): it can make backups and archive WAL, but it cannot open backup .* private key of OpenPGP key [0-9A-F]{40} \(pgwarden ops\).*encryption\.privateKeys/,
    );
    await noRestoredDatabases();

    // With the private key (the restore machine), both open.
    const withPrivate = configWith('publiconly', { privateKeys: [{ file: ops.privateFile }], recipients: [{ file: ops.publicFile }] });
    assert.equal((await restore(withPrivate, made.backupId, 'shop_from_private_key')).rowCountsMatch, true);
    const plain = await fetchWalBytes(archive.repo, 'publiconly', rows[0]!.name, openArchive(withPrivate, 'publiconly').keys);
    assert.ok(plain?.equals(readFileSync(segment)));

    // And stock tools with the private key: scripts/emergency-restore.sh.
    const folder = join(stack.s3.root, stack.bucket, 'backups', 'publiconly', 'logical', made.backupId);
    const env = { ...libpqEnv(pgEndpoint(stack.pg.url('postgres'), 'emergency')), BACKUP_PRIVATE_KEY_FILE: ops.privateFile, PATH: `${serverBinDir()}:${process.env.PATH}` };
    const run = await execa('bash', [SCRIPT, folder, 'shop_emergency_private_key'], { env, reject: false, all: true });
    assert.equal(run.exitCode, 0, run.all);
    assert.equal((await stack.pg.query<{ n: string }>('shop_emergency_private_key', 'SELECT count(*) AS n FROM items')).rows[0]!.n, '500');
  });

  test('a wrong private key, or a right one with the wrong passphrase, fails before any database is created', async () => {
    const made = await backup(configWith('wrongkey', { recipients: [{ file: ops.publicFile }, { file: protectedKey.publicFile }] }));
    const started = Date.now();
    await refusedInPlan(
      configWith('wrongkey', { privateKeys: [{ file: stranger.privateFile }], recipients: [{ file: ops.publicFile }] }),
      made.backupId,
      'Integrity',
      new RegExp(`None of the configured keys opens backup ${made.backupId} .* wrapped for OpenPGP key ${ops.fingerprint} .* the private key ${stranger.fingerprint}`),
    );
    await refusedInPlan(
      configWith('wrongkey', { privateKeys: [{ file: protectedKey.privateFile, passphraseEnv: secretEnv('not it', 'PGWARDEN_TEST_KEYPASS') }], recipients: [{ file: ops.publicFile }] }),
      made.backupId,
      'Integrity',
      new RegExp(`private key .*${protectedKey.fingerprint}.* its passphrase is wrong or missing`),
    );
    assert.ok(Date.now() - started < 60_000, 'in seconds, not after a download');
    await noRestoredDatabases();
    const right = configWith('wrongkey', { privateKeys: [{ file: protectedKey.privateFile, passphraseEnv: secretEnv('key passphrase', 'PGWARDEN_TEST_KEYPASS') }], recipients: [{ file: ops.publicFile }] });
    assert.equal((await restore(right, made.backupId, 'shop_from_protected_key')).rowCountsMatch, true);
  });

  test('rekey re-wraps every data key for the new key; then the old key can go and everything still restores', async () => {
    const oldKey = passphrase('old passphrase', 'PGWARDEN_TEST_OLD');
    const before = configWith('rotated', oldKey);
    const made = await backup(before);
    const { rows } = await stack.pg.query<{ name: string }>('postgres', 'SELECT pg_walfile_name(pg_switch_wal()) AS name');
    const segment = join(stack.pg.cluster.dataDir, 'pg_wal', rows[0]!.name);
    const archive = openArchive(before, 'rotated', { spool: mkdtempSync(join(tmpdir(), 'pgwarden-test-spool-')) });
    await pushWalFile(archive.repo, 'rotated', segment, archive.settings, archive.keys, { dataDirectory: stack.pg.cluster.dataDir });

    const newOnly = configWith('rotated', passphrase('new passphrase', 'PGWARDEN_TEST_NEW'));
    // Without a rekey, the new passphrase alone opens neither.
    await refused(restore(newOnly, made.backupId, 'refused_before_rekey'), 'Integrity', /None of the configured keys opens/);

    const rotating = configWith('rotated', { ...passphrase('new passphrase', 'PGWARDEN_TEST_NEW'), previous: [oldKey] });
    await worker(rotating);
    const rekey = async () =>
      waitFor<RekeyResult>(await startLockedWorkflow(stack.env.client, rotating, 'rekeyWorkflow', rekeyWorkflowId('rotated'), 'rekey', [{ database: 'rotated' }], [['database', 'rotated']]));
    const first = await rekey();
    assert.ok(first.rewrapped >= 3, `the backup in both repositories and the WAL key (${JSON.stringify(first)})`);
    assert.equal(first.dataKeys, first.rewrapped + first.alreadyCurrent + first.gone);
    const again = await rekey();
    assert.equal(again.rewrapped, 0, 'idempotent: nothing left to re-wrap');
    assert.equal(again.alreadyCurrent, again.dataKeys);

    // The old key removed: the backup (from either repository), the WAL, and `backups list` all use the new one.
    assert.equal((await restore(newOnly, made.backupId, 'shop_after_rekey')).rowCountsMatch, true);
    const plain = await fetchWalBytes(archive.repo, 'rotated', rows[0]!.name, openArchive(newOnly, 'rotated').keys);
    assert.ok(plain?.equals(readFileSync(segment)));
    const file = join(mkdtempSync(join(tmpdir(), 'pgwarden-test-config-')), 'pgwarden.yaml');
    const input = stack.configInput({ rotated: { db: 'shop', repositories: ['local', 's3'] } });
    input.encryption = newOnly.encryption as ConfigInput['encryption'];
    writeFileSync(file, stringify(input));
    const listed = await execa(process.execPath, [CLI, '--config', file, '--json', 'backups', 'list', '--db', 'rotated'], { reject: false, env: { ...process.env } });
    const backups = (JSON.parse(listed.stdout) as { result: { backups: Array<{ id: string; opensWith: string | null }> } }).result.backups;
    assert.equal(backups.find((b) => b.id === made.backupId)?.opensWith, 'passphrase');
  });
});

describe('S3 Object Lock', () => {
  test('objects are locked until their retention ends, and retention skips what is still locked, saying so', async () => {
    const lockedRepository = (input: ConfigInput) => {
      input.repositories.locked = {
        type: 's3',
        endpoint: lockS3.endpoint,
        region: 'us-east-1',
        bucket: 'locked',
        forcePathStyle: true,
        accessKeyIdEnv: secretEnv(lockS3.accessKeyId, 'PGWARDEN_TEST_LOCK_KEY'),
        secretAccessKeyEnv: secretEnv(lockS3.secretAccessKey, 'PGWARDEN_TEST_LOCK_SECRET'),
      };
      input.databases.locked!.repositories = ['locked'];
    };
    const keepAnHour = configWith('locked', passphrase('lock', 'PGWARDEN_TEST_LOCK'), (input) => {
      lockedRepository(input);
      input.retention = { manual: '1h' };
    });
    const older = await backup(keepAnHour);
    await backup(keepAnHour);

    const key = `locked/logical/${older.backupId}/manifest.json`;
    const head = await lockS3.client.send(new HeadObjectCommand({ Bucket: 'locked', Key: key }));
    assert.equal(head.ObjectLockMode, 'COMPLIANCE');
    const until = head.ObjectLockRetainUntilDate!.getTime();
    assert.ok(Math.abs(until - (Date.parse(older.startedAt) + 3_600_000)) < 60_000, `locked until start + retention (${head.ObjectLockRetainUntilDate?.toISOString()})`);
    for (const name of ['datakey.asc', 'SHA256SUMS', 'pre-data.pgdump.zst.gpg']) {
      const retention = await lockS3.client.send(new GetObjectRetentionCommand({ Bucket: 'locked', Key: `locked/logical/${older.backupId}/${name}` }));
      assert.equal(retention.Retention?.Mode, 'COMPLIANCE', name);
    }
    // Not even the worker's own credentials remove a locked version.
    const versions = await lockS3.client.send(new ListObjectVersionsCommand({ Bucket: 'locked', Prefix: key }));
    await assert.rejects(lockS3.client.send(new DeleteObjectCommand({ Bucket: 'locked', Key: key, VersionId: versions.Versions![0]!.VersionId! })), /object lock/i);
    // pgwarden's own delete reports it as locked, and leaves it.
    assert.deepEqual((await openRepository(keepAnHour, 'locked').delete([key])).locked, [key]);

    // Retention shortened afterwards: the older backup is due, but still locked: skipped, and said so.
    const keepASecond = configWith('locked', passphrase('lock', 'PGWARDEN_TEST_LOCK'), (input) => {
      lockedRepository(input);
      input.retention = { manual: '1s' };
    });
    await worker(keepASecond);
    // Due only once it is older than that second: a quick machine gets here sooner (the plan then rightly keeps it).
    const due = Date.parse(older.finishedAt) + 1_000 + 200;
    if (Date.now() < due) await new Promise((resolve) => setTimeout(resolve, due - Date.now()));
    const expired = await waitFor<ExpireResult>(
      await startLockedWorkflow(stack.env.client, keepASecond, 'expireWorkflow', expireWorkflowId('locked'), 'expire', [{ database: 'locked' }], [['database', 'locked']]),
    );
    assert.deepEqual(expired.logical, []);
    assert.equal(expired.locked.length, 1, JSON.stringify(expired.locked));
    assert.match(expired.locked[0]!.what, new RegExp(`logical backup ${older.backupId}`));
    assert.equal(Date.parse(expired.locked[0]!.until!), until);
    assert.ok(await openRepository(keepASecond, 'locked').head(key), 'the locked backup is still there');
  });
});
