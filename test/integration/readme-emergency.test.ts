// The README's by-hand emergency restore, taken out of README.md and run exactly as written against a real backup:
// the lines an engineer copies at 3 a.m. cannot drift from what works.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createActivities } from '../../activities/index.js';
import { serverBinDir } from '../../activities/postgres/binaries.js';
import { libpqEnv, pgEndpoint } from '../../activities/postgres/connection.js';
import { secretEnv, testConfig } from '../harness/config.js';
import { fingerprint, KITCHEN_SINK_SQL } from '../harness/fixtures.js';
import { startCluster, type TestCluster } from '../harness/postgres.js';

const README = fileURLToPath(new URL('../../../README.md', import.meta.url));
const PASSPHRASE = 'readme emergency passphrase';

let pg: TestCluster;
let work: string;

before(async () => {
  pg = await startCluster();
  await pg.query('postgres', 'CREATE DATABASE shop');
  await pg.query('shop', KITCHEN_SINK_SQL);
  work = mkdtempSync(join(tmpdir(), 'pgwarden-readme-'));
});

after(async () => {
  if (work) {
    await execa('gpgconf', ['--homedir', join(work, '.gnupg'), '--kill', 'gpg-agent'], { reject: false });
    rmSync(work, { recursive: true, force: true });
  }
  await pg?.stop();
});

/** The one ```bash block of README.md that verifies SHA256SUMS: the by-hand emergency restore. */
function emergencyBlock(): string {
  const blocks = [...readFileSync(README, 'utf8').matchAll(/```bash\n([\s\S]*?)```/g)].map((m) => m[1]!).filter((b) => b.includes('sha256sum --check'));
  assert.equal(blocks.length, 1, 'README.md has one bash block with the by-hand emergency restore');
  return blocks[0]!;
}

test("the README's emergency commands restore a real backup with stock tools, identical to the source", async () => {
  // A real backup, made by pgwarden's own backup activity into a directory: what `aws s3 cp --recursive` downloads.
  const config = testConfig({
    encryption: { passphraseEnv: secretEnv(PASSPHRASE, 'PGWARDEN_TEST_PASSPHRASE') },
    backup: { jobs: 2, splitTableMiB: 0.25, chunkMiB: 1 },
    repositories: { local: { type: 'fs', path: join(work, 'repository') } },
    databases: { shop: { connection: { env: secretEnv(pg.url('shop'), 'PGWARDEN_TEST_DB_URL') } } },
  });
  const activities = createActivities(config);
  const backupId = 'readme-test';
  await new MockActivityEnvironment().run(activities.dumpLogical, {
    database: 'shop',
    backupId,
    kind: 'manual' as const,
    workflow: { namespace: 'default', workflowId: 'readme-test', runId: 'readme-test', startedAtMs: Date.now() },
  });
  const folder = join(work, 'repository', 'shop', 'logical', backupId);
  const data = readdirSync(folder).filter((f) => f.startsWith('data-')).sort();
  assert.ok(data.length >= 2 && data[0] === 'data-0000.sql.zst.gpg', `several data objects, from data-0000: ${data.join(', ')}`);

  // The block starts with `cd backup/`: the downloaded folder is ./backup here.
  const block = emergencyBlock();
  assert.match(block, /^cd backup\//, 'the block starts in the downloaded folder');
  const target = /^export NEWDB=(\S+)/m.exec(block)?.[1];
  assert.ok(target, 'the block names the new database');
  symlinkSync(folder, join(work, 'backup'));
  const env = {
    ...libpqEnv(pgEndpoint(pg.url('postgres'), 'readme')),
    BACKUP_PASSPHRASE: PASSPHRASE,
    PATH: `${serverBinDir()}:${process.env.PATH}`,
    HOME: work, // gpg keeps its home (~/.gnupg) here, not in the tester's
  };
  // -e and pipefail: every line must succeed, not just the last one.
  const run = await execa('bash', ['-e', '-o', 'pipefail', '-c', block], { cwd: work, env, extendEnv: false, reject: false, all: true });
  assert.equal(run.exitCode, 0, run.all);
  assert.deepEqual(await fingerprint(pg.url(target)), await fingerprint(pg.url('shop')));
  assert.ok(existsSync(join(work, 'backup', 'manifest.json')));
});
