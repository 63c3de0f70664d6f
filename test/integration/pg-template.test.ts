// Test clusters copied from one initdb (test/harness/pg-template.ts) are database systems of their own, as initdb
// would have made them: a system identifier each (pgwarden's WAL archive and checks tell clusters apart by it), the
// password they were given and not the template's, and a WAL that a base backup and a restart accept.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { localIdentity } from '../../activities/wal/archive.js';
import { PG_TEMPLATES_ENV, setSystemIdentifier } from '../harness/pg-template.js';
import { startCluster, type TestCluster } from '../harness/postgres.js';

let templates: string;
const saved = process.env[PG_TEMPLATES_ENV];

before(() => {
  templates = mkdtempSync(join(tmpdir(), 'pgwarden-test-pg-templates-'));
  chmodSync(templates, 0o755);
  process.env[PG_TEMPLATES_ENV] = templates;
});

after(() => {
  if (saved === undefined) delete process.env[PG_TEMPLATES_ENV];
  else process.env[PG_TEMPLATES_ENV] = saved;
  rmSync(templates, { recursive: true, force: true });
});

const identifierOf = async (cluster: TestCluster) =>
  (await cluster.query<{ id: string }>('postgres', 'SELECT system_identifier::text AS id FROM pg_control_system()')).rows[0]!.id;

test('two clusters from one template: each its own system identifier, its own password, a WAL that takes writes and restarts', async () => {
  const [a, b] = await Promise.all([startCluster(['wal_level = replica']), startCluster()]);
  try {
    const [idA, idB] = [await identifierOf(a), await identifierOf(b)];
    assert.notEqual(idA, idB, 'copies of one template are different database systems');
    // What wal-push reads from the data directory when a segment has no header to tell it (activities/wal/archive.ts).
    assert.equal(localIdentity(Buffer.alloc(0), a.cluster.dataDir)?.systemIdentifier, idA, 'pg_control holds what the server reports');
    assert.notEqual(a.password, b.password);
    const wrong = new pg.Client({ connectionString: a.url('postgres').replace(encodeURIComponent(a.password), encodeURIComponent(b.password)) });
    await assert.rejects(wrong.connect(), /password authentication failed/);
    await a.query('postgres', 'CREATE TABLE t AS SELECT g FROM generate_series(1, 1000) g');
    const segment = (await a.query<{ name: string }>('postgres', 'SELECT pg_walfile_name(pg_switch_wal()) AS name')).rows[0]!.name;
    assert.match(segment, /^[0-9A-F]{24}$/);
    await a.cluster.stop('fast');
    await a.cluster.start();
    assert.equal((await a.query<{ n: string }>('postgres', 'SELECT count(*) AS n FROM t')).rows[0]!.n, '1000', 'the data survived a restart');
    assert.equal(await identifierOf(a), idA);
  } finally {
    await Promise.all([a.stop(), b.stop()]);
  }
});

test('a file that is not pg_control is refused, not patched', () => {
  const file = join(templates, 'not-pg_control');
  writeFileSync(file, Buffer.alloc(8192, 7));
  assert.throws(() => setSystemIdentifier(file, 42n), /no CRC-32C found/);
  writeFileSync(file, Buffer.alloc(100));
  assert.throws(() => setSystemIdentifier(file, 42n), /100 bytes, expected 8192/);
});
