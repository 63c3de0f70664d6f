// Restores that stay safe: the swap of --replace-existing never leaves the target's name missing, a restore onto a
// server without the source's roles, damaged manifests that do not break listings, restores or retention,
// `config check` of where restores go, and backup folders that hold exactly what their manifest lists.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, cpSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { WorkflowHandle } from '@temporalio/client';
import { execa } from 'execa';
import pg from 'pg';
import { stringify } from 'yaml';
import { createActivities } from '../../activities/index.js';
import { backupFolder, MANIFEST_VERSION, readManifest } from '../../activities/catalog/manifest.js';
import { serverBinDir } from '../../activities/postgres/binaries.js';
import { libpqEnv, pgEndpoint } from '../../activities/postgres/connection.js';
import { openRepository } from '../../activities/storage/open.js';
import { startBackup, startRestore } from '../../client/api.js';
import { waitFor } from '../../client/watch.js';
import { EXIT_CODES, PgwardenError } from '../../domain/errors.js';
import type { Config, ConfigInput } from '../../config/schema.js';
import type { BackupResult } from '../../domain/backup.js';
import type { ExpireResult } from '../../domain/expire.js';
import type { RestoreInput, RestoreResult } from '../../domain/restore.js';
import { secretEnv, testConfig } from '../harness/config.js';
import { fingerprint, KITCHEN_SINK_SQL } from '../harness/fixtures.js';
import { startCluster, SUPERUSER, type TestCluster } from '../harness/postgres.js';
import { startStack, type Stack } from '../harness/stack.js';

const CLI = fileURLToPath(new URL('../../client/cli.js', import.meta.url));
const SCRIPT = fileURLToPath(new URL('../../../scripts/emergency-restore.sh', import.meta.url));
const RESTORER_PASSWORD = 'restorer pw';

let stack: Stack;
/** A second server, as a fresh cluster or another host is: none of the source's roles exist there. */
let other: TestCluster;
let input: ConfigInput;
let config: Config;
const latest: Record<string, string> = {};
const scratch = mkdtempSync(join(tmpdir(), 'pgwarden-restore-safety-'));

before(async () => {
  stack = await startStack();
  other = await startCluster();
  await stack.pg.query('postgres', `CREATE ROLE app_owner NOLOGIN; CREATE ROLE reporting NOLOGIN; CREATE ROLE restorer LOGIN CREATEDB PASSWORD '${RESTORER_PASSWORD}'`);
  await stack.pg.query('postgres', 'CREATE DATABASE shop');
  await stack.pg.query('postgres', 'CREATE DATABASE small');
  // What production databases look like: objects owned by an application role, read access granted to another.
  await stack.pg.query('shop', KITCHEN_SINK_SQL);
  await stack.pg.query(
    'shop',
    `ALTER TABLE kitchen_sink OWNER TO app_owner; ALTER SCHEMA "Weird Schema" OWNER TO app_owner;
     GRANT SELECT ON ALL TABLES IN SCHEMA public TO reporting; GRANT USAGE ON SCHEMA "Weird Schema" TO reporting`,
  );
  await stack.pg.query('small', "CREATE TABLE items (id int PRIMARY KEY, v text); INSERT INTO items SELECT g, 'item ' || g FROM generate_series(1, 2000) g");

  input = stack.configInput({
    shop: { db: 'shop' },
    small: { db: 'small' },
    elsewhere: { db: 'shop' }, // restores go to the other server
    restorer: { db: 'small' }, // restores run as a user that is no superuser
    ledger: { db: 'small' }, // its manifests get damaged
  });
  input.databases!.elsewhere!.restoreConnection = { env: secretEnv(other.url('postgres'), 'PGWARDEN_TEST_DB_URL') };
  input.databases!.restorer!.restoreConnection = { env: secretEnv(stack.pg.cluster.url('restorer', RESTORER_PASSWORD, 'postgres'), 'PGWARDEN_TEST_DB_URL') };
  config = testConfig(input);
  await stack.worker(config);
  await Promise.all(['shop', 'small', 'elsewhere', 'restorer'].map(async (database) => (latest[database] = (await backup(database)).backupId)));
});

after(async () => {
  await stack?.stop();
  await other?.stop();
  rmSync(scratch, { recursive: true, force: true });
});

async function backup(database: string): Promise<BackupResult> {
  return waitFor<BackupResult>(await startBackup(stack.env.client, config, { database, kind: 'manual' }));
}

async function restore(restoreInput: Omit<RestoreInput, 'backup'> & { backup?: string }): Promise<{ result?: RestoreResult; error?: PgwardenError; handle: WorkflowHandle }> {
  const handle = await startRestore(stack.env.client, config, { backup: 'latest', ...restoreInput });
  try {
    return { result: await waitFor<RestoreResult>(handle), handle };
  } catch (error) {
    assert.ok(error instanceof PgwardenError, String(error));
    return { error, handle };
  }
}

/** The attempt numbers with which `activity` started, from the workflow's history (retries show as attempt > 1). */
async function attempts(handle: WorkflowHandle, activity: string): Promise<number[]> {
  const events = (await handle.fetchHistory()).events ?? [];
  const scheduled = new Set(events.filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === activity).map((e) => String(e.eventId)));
  return events
    .filter((e) => e.activityTaskStartedEventAttributes && scheduled.has(String(e.activityTaskStartedEventAttributes.scheduledEventId)))
    .map((e) => e.activityTaskStartedEventAttributes!.attempt ?? 0);
}

async function marker(url: string): Promise<number> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<{ n: number }>('SELECT count(*)::int AS n FROM items WHERE id = -1')).rows[0]!.n;
  } finally {
    await client.end();
  }
}

/** An application's pool of three sessions that reconnect within milliseconds whenever they are ended. */
function application(url: string) {
  let stopped = false;
  let lastMarker: number | undefined;
  const session = async () => {
    while (!stopped) {
      const client = new pg.Client({ connectionString: url });
      const ended = new Promise((resolve) => {
        client.once('end', resolve);
        client.once('error', resolve);
      });
      try {
        await client.connect();
        lastMarker = (await client.query<{ n: number }>('SELECT count(*)::int AS n FROM items WHERE id = -1')).rows[0]!.n;
        await Promise.race([ended, new Promise((resolve) => { const t = setInterval(() => stopped && (clearInterval(t), resolve(undefined)), 20); })]);
      } catch {
        /* the database is being renamed, or has just been: connect again */
      } finally {
        await client.end().catch(() => undefined);
      }
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  };
  const sessions = [session(), session(), session()];
  return {
    lastMarker: () => lastMarker,
    async stop() {
      stopped = true;
      await Promise.all(sessions);
    },
  };
}

function scriptEnv(cluster: TestCluster): Record<string, string> {
  return {
    ...libpqEnv(pgEndpoint(cluster.url('postgres'), 'emergency')),
    BACKUP_PASSPHRASE: process.env[stack.passphraseEnv]!,
    PATH: `${serverBinDir()}:${process.env.PATH}`,
  };
}

/** What `aws s3 cp --recursive` of a backup folder gives (versitygw keeps objects as files), in a folder of its own. */
function download(database: string, backupId: string): string {
  const dir = mkdtempSync(join(scratch, `${database}-`));
  cpSync(join(stack.s3.root, stack.bucket, 'backups', database, 'logical', backupId), dir, { recursive: true });
  return dir;
}

describe('replacing a database (--replace-existing)', () => {
  test('swaps the restored copy in while an application keeps reconnecting to the old one, and keeps the old one', async () => {
    assert.ok((await restore({ database: 'small', target: 'small_live' })).result);
    await stack.pg.query('small_live', "INSERT INTO items VALUES (-1, 'written after the backup')");
    const app = application(stack.pg.url('small_live'));
    let outcome;
    try {
      for (let i = 0; i < 100 && app.lastMarker() === undefined; i += 1) await new Promise((r) => setTimeout(r, 20));
      assert.equal(app.lastMarker(), 1, 'the application works on the old database');
      outcome = await restore({ database: 'small', target: 'small_live', replaceExisting: 'small_live' });
      for (let i = 0; i < 200 && app.lastMarker() !== 0; i += 1) await new Promise((r) => setTimeout(r, 20));
      assert.equal(app.lastMarker(), 0, 'the application reconnected to the restored database');
    } finally {
      await app.stop();
    }
    assert.equal(outcome.error, undefined, outcome.error?.message);
    assert.deepEqual(await attempts(outcome.handle, 'publishRestore'), [1], 'the swap succeeds at the first attempt');
    const keptAs = outcome.result!.previousDatabaseKeptAs!;
    assert.match(keptAs, /^small_live_before_\d{8}T\d{6}Z$/);
    assert.equal(await marker(stack.pg.url(keptAs)), 1, 'the replaced database is kept as it was');
    assert.equal(await marker(stack.pg.url('small_live')), 0, 'the target holds the backup');
    assert.deepEqual((await stack.pg.databases()).filter((d) => d.includes('_pgwrestore_')), []);
  });

  test('a session the restore user may not end stops the swap before anything changes; only the staging database is dropped', async () => {
    await stack.pg.query('postgres', 'CREATE DATABASE restorer_live OWNER restorer');
    await stack.pg.query('restorer_live', "CREATE TABLE items (id int, v text); INSERT INTO items VALUES (-1, 'production')");
    const dba = new pg.Client({ connectionString: stack.pg.url('restorer_live') }); // a superuser's session
    await dba.connect();
    try {
      const { error, handle } = await restore({ database: 'restorer', target: 'restorer_live', replaceExisting: 'restorer_live', noOwner: true });
      assert.ok(error, 'the restore fails');
      assert.equal(error.kind, 'Failed');
      assert.match(error.message, new RegExp(`a session of ${SUPERUSER} \\(pid \\d+\\) on "restorer_live" cannot be ended`));
      assert.match(error.message, /Nothing was changed: "restorer_live" is as it was/);
      assert.deepEqual(await attempts(handle, 'publishRestore'), [1], 'not retried: trying again cannot end that session');
      assert.equal((await dba.query('SELECT 1 AS one')).rows[0].one, 1, "the superuser's session was left alone");
    } finally {
      await dba.end();
    }
    assert.equal(await marker(stack.pg.url('restorer_live')), 1, 'the target is untouched');
    const left = (await stack.pg.databases()).filter((d) => d.startsWith('restorer_live'));
    assert.deepEqual(left, ['restorer_live'], 'the staging database was dropped, and nothing else');
  });

  test('when the restored copy cannot be renamed, the old database keeps its name: both renames are one transaction', async () => {
    const activities = createActivities(config);
    const staging = 'swap_live_pgwrestore_0000beef';
    const provenance = 'Restored by pgwarden (test)';
    await stack.pg.query('postgres', 'CREATE DATABASE swap_live');
    await stack.pg.query('swap_live', "CREATE TABLE items (id int, v text); INSERT INTO items VALUES (-1, 'production')");
    await stack.pg.query('postgres', `CREATE DATABASE ${staging}`);
    await stack.pg.query('postgres', `COMMENT ON DATABASE ${staging} IS '${provenance}'`);
    const publish = { database: 'small', staging, target: 'swap_live', replaceExisting: 'swap_live', keepSuffix: '20260101T000000Z', provenance };

    // Another session holds a lock on the restored copy (as an open COMMENT ON DATABASE does): its rename must wait.
    const holder = new pg.Client({ connectionString: stack.pg.url('postgres') });
    await holder.connect();
    let outcome: { ok?: unknown; error?: Error };
    try {
      await holder.query('BEGIN');
      await holder.query(`COMMENT ON DATABASE ${staging} IS '${provenance}'`);
      const publishing = activities.publishRestore(publish).then(
        (ok) => ({ ok }),
        (error: Error) => ({ error }),
      );
      let waiting = false;
      for (let i = 0; i < 200 && !waiting; i += 1) {
        const { rows } = await stack.pg.query('postgres', "SELECT 1 FROM pg_locks WHERE NOT granted AND locktype = 'object' AND classid = 'pg_database'::regclass");
        waiting = rows.length > 0;
        if (!waiting) await new Promise((r) => setTimeout(r, 25));
      }
      assert.ok(waiting, 'the swap waits for the lock on the restored copy');
      const names = await stack.pg.databases();
      assert.ok(names.includes('swap_live'), `the target's name is not missing while the swap waits: ${names.join(', ')}`);
      outcome = await publishing;
    } finally {
      await holder.query('ROLLBACK').catch(() => undefined);
      await holder.end();
    }
    assert.ok(outcome.error, 'the swap fails');
    assert.match(outcome.error.message, /lock timeout/);
    assert.match(outcome.error.message, /Nothing was changed: "swap_live" is as it was/);
    assert.equal(await marker(stack.pg.url('swap_live')), 1, 'the old database has its name');
    assert.ok(!(await stack.pg.databases()).includes('swap_live_before_20260101T000000Z'));

    // The retry, once the lock is gone, completes the swap; a retry after that finds it done.
    for (let attempt = 0; attempt < 2; attempt += 1) {
      assert.deepEqual(await activities.publishRestore(publish), { previousDatabaseKeptAs: 'swap_live_before_20260101T000000Z' });
      const comment = await stack.pg.query<{ c: string }>('postgres', "SELECT shobj_description(oid, 'pg_database') AS c FROM pg_database WHERE datname = 'swap_live'");
      assert.equal(comment.rows[0]!.c, provenance, 'the target is the restored copy');
      assert.equal(await marker(stack.pg.url('swap_live_before_20260101T000000Z')), 1);
      assert.ok(!(await stack.pg.databases()).includes(staging));
    }
  });

  test('replacing a database that another role owns is refused before the restore starts', async () => {
    await stack.pg.query('postgres', 'CREATE DATABASE not_restorers');
    const { error } = await restore({ database: 'restorer', target: 'not_restorers', replaceExisting: 'not_restorers', noOwner: true });
    assert.equal(error?.kind, 'Refused');
    assert.match(error.message, new RegExp(`belongs to role "${SUPERUSER}"; user "restorer" may not rename it`));
    assert.deepEqual((await stack.pg.databases()).filter((d) => d.startsWith('not_restorers')), ['not_restorers']);
  });
});

describe("restoring onto a server without the source's roles", () => {
  const defaults = ['postgres', 'template0', 'template1'];

  test('fails at once, without retries, naming the missing role and the options that help; nothing is left there', async () => {
    const { error, handle } = await restore({ database: 'elsewhere', target: 'shop_copy' });
    assert.ok(error, 'the restore fails');
    assert.equal(error.kind, 'Failed');
    assert.match(error.message, /role "app_owner" does not exist/);
    assert.match(error.message, /lacks role "app_owner" .* restore with --no-owner --no-privileges/);
    assert.deepEqual(await attempts(handle, 'restoreLogical'), [1], 'a statement the server refuses is not retried');
    assert.deepEqual(await other.databases(), defaults);
  });

  test('with --no-owner alone it stops at the first GRANT, and says which option helps', async () => {
    const { error, handle } = await restore({ database: 'elsewhere', target: 'shop_copy', noOwner: true });
    assert.match(error?.message ?? '', /Command was: GRANT .* TO reporting/);
    assert.match(error?.message ?? '', /lacks role "reporting" .* --no-owner --no-privileges/);
    assert.deepEqual(await attempts(handle, 'restoreLogical'), [1]);
    assert.deepEqual(await other.databases(), defaults);
  });

  test('with --no-owner --no-privileges it restores the same data, owned by the restoring user', async () => {
    const configFile = join(scratch, 'elsewhere.yaml');
    writeFileSync(configFile, stringify(input));
    const run = await execa('node', [CLI, '--config', configFile, '--json', 'restore', '--db', 'elsewhere', '--backup', 'latest', '--into', 'shop_copy', '--no-owner', '--no-privileges'], {
      reject: false,
    });
    assert.equal(run.exitCode, 0, run.stderr);
    assert.equal(JSON.parse(run.stdout).result.rowCountsMatch, true);
    assert.deepEqual(await fingerprint(other.url('shop_copy')), await fingerprint(stack.pg.url('shop')));
    const owners = await other.query<{ o: string }>('shop_copy', "SELECT DISTINCT tableowner AS o FROM pg_tables WHERE schemaname = 'public'");
    assert.deepEqual(owners.rows.map((r) => r.o), [SUPERUSER]);
  });

  test('so does the emergency script with the same options; without them it fails and drops what it created', async () => {
    const folder = download('elsewhere', latest.elsewhere!);
    const plain = await execa('bash', [SCRIPT, folder, 'shop_script'], { env: scriptEnv(other), reject: false, all: true });
    assert.notEqual(plain.exitCode, 0);
    assert.match(plain.all ?? '', /role "app_owner" does not exist/);
    assert.match(plain.all ?? '', /dropping the half-restored database shop_script/);
    assert.match(plain.all ?? '', /run again with --no-owner --no-privileges/);
    assert.ok(!(await other.databases()).includes('shop_script'), 'no half-made database is left');

    const run = await execa('bash', [SCRIPT, '--no-owner', '--no-privileges', folder, 'shop_script'], { env: scriptEnv(other), reject: false, all: true });
    assert.equal(run.exitCode, 0, run.all);
    assert.deepEqual(await fingerprint(other.url('shop_script')), await fingerprint(stack.pg.url('shop')));
  });
});

describe('damaged manifests', () => {
  const ids: string[] = [];
  let configFile: string;

  before(async () => {
    for (let i = 0; i < 3; i += 1) ids.push((await backup('ledger')).backupId);
    const repo = openRepository(config, 's3');
    // The newest was written by a newer pgwarden; the one before it is truncated.
    const newest = await readManifest(repo, backupFolder('ledger', 'logical', ids[2]!));
    await repo.putBytes(`${backupFolder('ledger', 'logical', ids[2]!)}manifest.json`, Buffer.from(JSON.stringify({ ...newest, manifestVersion: MANIFEST_VERSION + 1, tool: { name: 'pgwarden', version: '9.0.0' } })));
    await repo.putBytes(`${backupFolder('ledger', 'logical', ids[1]!)}manifest.json`, Buffer.from('{"manifestVersion": 1, "id": "'));
    configFile = join(scratch, 'damaged.yaml');
    writeFileSync(configFile, stringify(input));
  });

  test('backups list shows the usable backups and the damaged ones apart, with what is wrong', async () => {
    const run = await execa('node', [CLI, '--config', configFile, '--json', 'backups', 'list', '--db', 'ledger'], { reject: false });
    assert.equal(run.exitCode, 0, run.stderr);
    const listed = JSON.parse(run.stdout).result;
    assert.deepEqual(listed.backups.map((b: { id: string }) => b.id), [ids[0]]);
    const damaged = new Map<string, { reason: string; newerFormat: boolean }>(listed.damaged.map((d: { id: string }) => [d.id, d]));
    assert.deepEqual([...damaged.keys()].sort(), [ids[1], ids[2]].sort());
    assert.match(damaged.get(ids[1]!)!.reason, /is not valid JSON/);
    assert.equal(damaged.get(ids[1]!)!.newerFormat, false);
    assert.match(damaged.get(ids[2]!)!.reason, new RegExp(`written by a newer pgwarden \\(9\\.0\\.0\\) in manifest format ${MANIFEST_VERSION + 1}; .* upgrade pgwarden`));
    assert.equal(damaged.get(ids[2]!)!.newerFormat, true);
    assert.match(run.stderr, /warning: backup .* is damaged and skipped/);
    const human = await execa('node', [CLI, '--config', configFile, 'backups', 'list', '--db', 'ledger'], { reject: false });
    assert.match(human.stdout, new RegExp(`${ids[2]}  DAMAGED: .*upgrade pgwarden`));
  });

  test('restore latest restores the newest usable backup and says which newer ones it passed over', async () => {
    const { result, error } = await restore({ database: 'ledger', target: 'ledger_latest' });
    assert.equal(error, undefined, error?.message);
    assert.equal(result!.backupId, ids[0]);
    assert.equal(result!.warnings?.length, 2);
    assert.ok(result!.warnings!.some((w) => new RegExp(`Newer backup ${ids[2]} was passed over: .*upgrade pgwarden`).test(w)), result!.warnings!.join('\n'));
    const asked = await restore({ database: 'ledger', backup: ids[2]!, target: 'ledger_newer' });
    assert.equal(asked.error?.kind, 'Refused');
    assert.match(asked.error.message, /upgrade pgwarden to use this backup/);
  });

  test('retention works around them, removes none of them, and reports them', async () => {
    const result = await stack.env.client.workflow.execute('expireWorkflow', {
      taskQueue: config.temporal.taskQueue,
      workflowId: 'pgwarden-expire-ledger-test',
      args: [{ database: 'ledger', dryRun: false }],
    });
    const expired = result as ExpireResult;
    assert.deepEqual(expired.logical, []);
    assert.deepEqual(expired.damaged?.map((d) => d.id).sort(), [ids[1], ids[2]].sort());
    for (const id of ids) assert.ok(await openRepository(config, 's3').head(`${backupFolder('ledger', 'logical', id)}manifest.json`), `${id} is still there`);
  });
});

describe('config check', () => {
  async function check(databases: Record<string, unknown>) {
    const file = join(scratch, `check-${Math.random().toString(36).slice(2)}.yaml`);
    writeFileSync(file, stringify({ ...input, databases }));
    const run = await execa('node', [CLI, '--config', file, '--json', 'config', 'check'], { reject: false });
    return { code: run.exitCode, json: JSON.parse(run.stdout), stderr: run.stderr };
  }
  const shop = () => input.databases!.shop!;
  const url = (value: string) => ({ env: secretEnv(value, 'PGWARDEN_TEST_DB_URL') });

  test('reaches the server restores go to, and an unreachable one exits 7 (unavailable)', async () => {
    const ok = await check({ shop: { ...shop(), restoreConnection: input.databases!.elsewhere!.restoreConnection } });
    assert.equal(ok.code, 0, JSON.stringify(ok.json));
    const restores = ok.json.result.checks.find((c: { what: string }) => c.what === 'restores of shop');
    assert.match(restores.detail, new RegExp(`into restoreConnection: PostgreSQL .* at 127\\.0\\.0\\.1:${other.cluster.port}, user "${SUPERUSER}" may create databases`));

    const down = await check({ shop: { ...shop(), restoreConnection: url('postgresql://nobody:pw@127.0.0.1:1/postgres') } });
    assert.equal(down.code, EXIT_CODES.Unavailable);
    assert.equal(down.json.error.kind, 'Unavailable');
    assert.match(down.json.error.message, /FAIL restores of shop: Cannot reach PostgreSQL at 127\.0\.0\.1:1/);
  });

  test('an unreachable database exits 7 too; a restore user that may not create databases exits 3', async () => {
    const down = await check({ shop: { ...shop(), connection: url('postgresql://nobody:pw@127.0.0.1:1/shop') } });
    assert.equal(down.code, EXIT_CODES.Unavailable, down.json.error?.message);

    await stack.pg.query('postgres', "CREATE ROLE reader LOGIN PASSWORD 'reader pw'");
    const reader = await check({ shop: { ...shop(), connection: url(stack.pg.cluster.url('reader', 'reader pw', 'shop')) } });
    assert.equal(reader.code, EXIT_CODES.Config);
    assert.match(reader.json.error.message, /FAIL restores of shop: user "reader" .* \(the source server \(restoreConnection is not set\)\) may not create databases/);
    assert.match(reader.json.error.message, /set databases\.shop\.restoreConnection/);
  });
});

describe('backup folders hold exactly what their manifest lists', () => {
  test('a retried backup starts from an empty folder: what a crashed attempt left there is removed', async () => {
    const repo = openRepository(config, 's3');
    const backupId = '20260101T000000Z-manual-beef';
    const folder = backupFolder('small', 'logical', backupId);
    // A crashed attempt (worker killed) completed an object under a name the next attempt's plan does not produce.
    const leftover = join(stack.s3.root, stack.bucket, 'backups', folder, 'data-0042.sql.zst.gpg');
    cpSync(join(stack.s3.root, stack.bucket, 'backups', backupFolder('small', 'logical', latest.small!), 'data-0000.sql.zst.gpg'), leftover);
    assert.ok(await repo.head(`${folder}data-0042.sql.zst.gpg`));

    await createActivities(config).dumpLogical({
      database: 'small',
      backupId,
      kind: 'manual',
      workflow: { namespace: 'default', workflowId: 'retried backup (test)', runId: 'attempt-2', startedAtMs: Date.now() },
    });
    const manifest = await readManifest(repo, folder);
    const stored: string[] = [];
    for await (const object of repo.list(folder)) stored.push(object.key.slice(folder.length));
    const dataKey = manifest!.encryption.scheme === 'openpgp-envelope-v1' ? [manifest!.encryption.dataKey] : [];
    assert.deepEqual(stored.sort(), [...manifest!.objects.map((o) => o.name), ...dataKey, 'SHA256SUMS', 'manifest.json'].sort());
  });

  test('a dump goes to the repository its workflow chose, not the first one of the dumping worker\'s configuration', async () => {
    // A rolling configuration change: the run was prepared when "local" came first; this worker lists only "s3".
    const backupId = '20260101T000000Z-manual-c0de';
    const folder = backupFolder('small', 'logical', backupId);
    const output = await createActivities(config).dumpLogical({
      database: 'small',
      backupId,
      kind: 'manual',
      workflow: { namespace: 'default', workflowId: 'rolling config change (test)', runId: 'attempt-1', startedAtMs: Date.now() },
      repository: 'local',
    });
    assert.equal(output.repository, 'local');
    assert.ok(await readManifest(openRepository(config, 'local'), folder), 'the backup is where the workflow will copy and clean up from');
    assert.equal(await readManifest(openRepository(config, 's3'), folder), undefined, 'nothing in the repository the worker would have picked');
  });

  test('the emergency script loads what SHA256SUMS lists and nothing else, and refuses a folder without manifest.json', async () => {
    const folder = download('shop', latest.shop!);
    // An object that is not part of the backup (left by a crashed attempt): loading it would duplicate rows.
    copyFileSync(join(folder, 'data-0000.sql.zst.gpg'), join(folder, 'data-0099.sql.zst.gpg'));
    const run = await execa('bash', [SCRIPT, folder, 'shop_listed'], { env: scriptEnv(stack.pg), reject: false, all: true });
    assert.equal(run.exitCode, 0, run.all);
    assert.doesNotMatch(run.all ?? '', /data-0099/);
    assert.deepEqual(await fingerprint(stack.pg.url('shop_listed')), await fingerprint(stack.pg.url('shop')));

    rmSync(join(folder, 'manifest.json'));
    const unfinished = await execa('bash', [SCRIPT, folder, 'shop_unfinished'], { env: scriptEnv(stack.pg), reject: false, all: true });
    assert.notEqual(unfinished.exitCode, 0);
    assert.match(unfinished.all ?? '', /no manifest\.json .* this backup never finished/);
    assert.ok(!(await stack.pg.databases()).includes('shop_unfinished'));
    assert.ok(readdirSync(folder).includes('SHA256SUMS'));
  });
});
