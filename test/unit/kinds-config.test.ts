// Repositories and retention per kind of backup: the runbook keeps pre-migration dumps in B2 and S3 for 90 days.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { databaseView, loadConfig, parseConfig } from '../../config/load.js';

const repositories = { b2: { type: 'fs', path: '/b2' }, aws: { type: 'fs', path: '/aws' } };

test('a kind goes to its own repositories, the others to the database\'s; restores and listings look in all of them', () => {
  const config = parseConfig({
    repositories,
    databases: { cartly: { connection: { env: 'X' }, repositories: ['b2'], kinds: { 'pre-migration': { repositories: ['b2', 'aws'], retention: '120d' } } } },
  });
  const db = databaseView(config, 'cartly');
  assert.deepEqual(db.repositoriesFor('pre-migration'), ['b2', 'aws']);
  assert.deepEqual(db.repositoriesFor('daily'), ['b2']);
  assert.deepEqual(db.allRepositories, ['b2', 'aws']);
  assert.equal(db.retentionFor('pre-migration'), 120 * 86_400_000, 'the kind\'s own retention');
  assert.equal(db.retentionFor('daily'), 30 * 86_400_000, 'retention.daily');
});

test('a kind naming an undeclared repository fails with the key path', () => {
  assert.throws(
    () => parseConfig({ repositories, databases: { cartly: { connection: { env: 'X' }, repositories: ['b2'], kinds: { 'pre-migration': { repositories: ['s3'] } } } } }),
    /databases\.cartly\.kinds\.pre-migration\.repositories\.0: repository "s3" is not declared under repositories: \(declared: b2, aws\)/,
  );
  assert.throws(
    () => parseConfig({ repositories, databases: { cartly: { connection: { env: 'X' }, repositories: ['b2'], kinds: { hourly: { repositories: ['b2'] } } } } }),
    /databases\.cartly\.kinds: unknown key "hourly"/,
  );
});

test("the shipped example follows the runbook: pre-migration in B2 + S3 for 90 days, everything else in B2", () => {
  const db = databaseView(loadConfig(fileURLToPath(new URL('../../../pgwarden.example.yaml', import.meta.url))), 'cartly');
  assert.deepEqual(db.repositoriesFor('pre-migration'), ['b2', 'aws']);
  for (const kind of ['daily', 'weekly', 'monthly', 'manual'] as const) assert.deepEqual(db.repositoriesFor(kind), ['b2']);
  assert.equal(db.retentionFor('pre-migration'), 90 * 86_400_000);
});
