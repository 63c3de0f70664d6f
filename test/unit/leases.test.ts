// Retention and the readers it must not pull the floor from under: a base backup that a point-in-time restore
// (or a drill) holds stays, with the WAL from its start on, also when the hold came after retention planned.
import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { backupFolder, writeManifest, type BackupManifest } from '../../activities/catalog/manifest.js';
import { leaseFolder, writeLease } from '../../activities/catalog/leases.js';
import { expireActivities } from '../../activities/expire/index.js';
import { leaseActivities } from '../../activities/hold/index.js';
import { openRepository } from '../../activities/storage/open.js';
import type { Repository } from '../../activities/storage/repository.js';
import { walKey } from '../../activities/wal/archive.js';
import type { Config } from '../../config/schema.js';
import { secretEnv, testConfig } from '../harness/config.js';

const DAY = 86_400_000;
let dir: string;
let config: Config;
let repo: Repository;

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'pgwarden-leases-'));
  config = testConfig({
    encryption: { passphraseEnv: secretEnv('unit test passphrase') },
    repositories: { local: { type: 'fs', path: dir } },
    databases: { app: { connection: { env: secretEnv('postgresql://u:p@127.0.0.1:1/app') }, pitr: { repository: 'local', retention: '7d' } } },
  });
  repo = openRepository(config, 'local');
});

after(() => rmSync(dir, { recursive: true, force: true }));

/** Three base backups, 30 days, 20 days and 1 hour old, starting in WAL segments 1, 3 and 5; WAL 1 to 6. */
beforeEach(async () => {
  rmSync(join(dir, 'app'), { recursive: true, force: true });
  for (const [id, ageMs, segment] of [['b1', 30 * DAY, 1], ['b2', 20 * DAY, 3], ['b3', 3_600_000, 5]] as const) {
    await writeManifest(repo, backupFolder('app', 'base', id), baseManifest(id, Date.now() - ageMs, segment));
  }
  for (let segment = 1; segment <= 6; segment += 1) await repo.putBytes(walKey('app', walName(segment)), Buffer.from('segment'));
});

function walName(segment: number): string {
  return `00000001${'0'.repeat(8)}${segment.toString(16).toUpperCase().padStart(8, '0')}`;
}

function baseManifest(id: string, stopMs: number, segment: number): BackupManifest {
  const at = new Date(stopMs).toISOString();
  return {
    manifestVersion: 1,
    id,
    database: 'app',
    kind: 'base',
    type: 'base',
    format: 'pgwarden-base-v1',
    tool: { name: 'pgwarden', version: 'test' },
    server: { version: '15', versionNum: 150000, systemIdentifier: '1' },
    startedAt: at,
    finishedAt: at,
    rawBytes: 1,
    storedBytes: 1,
    compression: { algorithm: 'zstd', level: 1 },
    encryption: { scheme: 'openpgp-symmetric-aes256', keyFingerprint: 'x' },
    objects: [],
    tables: {},
    base: { startLsn: `0/${(segment * 0x1000000 + 0x28).toString(16).toUpperCase()}`, stopLsn: `0/${(segment * 0x1000000 + 0x100).toString(16).toUpperCase()}`, timeline: 1, startWal: walName(segment), stopWal: walName(segment), startTime: at, stopTime: at },
  };
}

async function walLeft(): Promise<string[]> {
  const names: string[] = [];
  for await (const object of repo.list('app/wal/')) names.push(object.key.slice('app/wal/'.length, 'app/wal/'.length + 24));
  return names;
}

describe('retention and held base backups', () => {
  test('without a hold, the base backup before the window goes, with the WAL only it needed', async () => {
    const expire = expireActivities(config);
    const plan = await expire.planExpiry({ database: 'app', nowMs: Date.now() });
    assert.deepEqual(plan.base.map((b) => b.id), ['b1']);
    await expire.applyExpiry(plan);
    assert.deepEqual(await walLeft(), [3, 4, 5, 6].map(walName));
  });

  test('a point-in-time restore that holds the oldest base backup keeps it and its WAL, and says who holds it', async () => {
    const leases = leaseActivities(config);
    const hold = await leases.holdBackups({ database: 'app', backups: [{ type: 'base', id: 'b1' }], purpose: 'point-in-time restore' });
    try {
      const expire = expireActivities(config);
      const plan = await expire.planExpiry({ database: 'app', nowMs: Date.now() });
      assert.deepEqual(plan.base, []);
      assert.equal(plan.held[0]?.id, 'b1');
      assert.match(plan.held[0]!.by[0]!, /^point-in-time restore \(process \d+@/);
      await expire.applyExpiry(plan);
      assert.deepEqual(await walLeft(), [1, 2, 3, 4, 5, 6].map(walName));
    } finally {
      await leases.releaseBackups(hold);
    }
  });

  test('a hold taken after retention planned still keeps the backup and its WAL; once released they go', async () => {
    const expire = expireActivities(config);
    const leases = leaseActivities(config);
    const plan = await expire.planExpiry({ database: 'app', nowMs: Date.now() });
    assert.deepEqual(plan.base.map((b) => b.id), ['b1']);
    const hold = await leases.holdBackups({ database: 'app', backups: [{ type: 'base', id: 'b1' }], purpose: 'restore drill' });
    const applied = await expire.applyExpiry(plan);
    assert.deepEqual(applied.held.map((h) => h.id), ['b1']);
    assert.ok(await repo.head(`${backupFolder('app', 'base', 'b1')}manifest.json`), 'the manifest is still (or again) there');
    assert.deepEqual(await walLeft(), [1, 2, 3, 4, 5, 6].map(walName));

    await leases.releaseBackups(hold);
    const again = await expire.planExpiry({ database: 'app', nowMs: Date.now() });
    await expire.applyExpiry(again);
    assert.equal(await repo.head(`${backupFolder('app', 'base', 'b1')}manifest.json`), undefined);
    assert.deepEqual(await walLeft(), [3, 4, 5, 6].map(walName));
  });

  test('a hold on a backup that retention already removed fails, and leaves no lease', async () => {
    const leases = leaseActivities(config);
    await assert.rejects(leases.holdBackups({ database: 'app', backups: [{ type: 'base', id: 'gone' }], purpose: 'point-in-time restore' }), /no longer in repository "local"/);
    const left: string[] = [];
    for await (const object of repo.list(leaseFolder('app'))) left.push(object.key);
    assert.deepEqual(left, []);
  });

  test('the lease of a process that died lapses: retention removes the backup and the lease', async () => {
    const past = new Date(Date.now() - 60_000).toISOString();
    await writeLease(repo, 'app', 'local-dead', {
      leaseVersion: 1,
      holder: { process: '1@gone' },
      purpose: 'restore into app_copy',
      backups: [{ type: 'base', id: 'b1' }],
      takenAt: past,
      expiresAt: past,
    });
    const expire = expireActivities(config);
    const plan = await expire.planExpiry({ database: 'app', nowMs: Date.now() });
    assert.deepEqual(plan.base.map((b) => b.id), ['b1']);
    await expire.applyExpiry(plan);
    assert.equal(await repo.head(`${leaseFolder('app')}local-dead.json`), undefined);
  });
});
