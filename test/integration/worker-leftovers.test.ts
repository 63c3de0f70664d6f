// A worker killed with -9 mid-backup leaves nothing on the host for good: the copy-out directories of its psql
// steps are removed by the attempt that finishes the backup, and no gpg-agent of the workers runs on. Real workers as processes, real PostgreSQL and S3.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startBackup } from '../../client/api.js';
import { waitFor } from '../../client/watch.js';
import type { Config, ConfigInput } from '../../config/schema.js';
import type { BackupResult } from '../../domain/backup.js';
import { testConfig } from '../harness/config.js';
import { startStack, type Stack } from '../harness/stack.js';
import { startWorkerProcess, writeConfigFile, type WorkerProcess } from '../harness/worker-process.js';

let stack: Stack;
let input: ConfigInput;
let config: Config;
let configFile: string;
let base: string; // the workers' temp directory (TMPDIR): only theirs, so that what is left there is theirs
let savedTmp: string | undefined;
const workers: WorkerProcess[] = [];

before(async () => {
  stack = await startStack();
  await stack.pg.query('postgres', 'CREATE DATABASE shop');
  // Enough rows that the dump is still copying out when its worker is killed.
  await stack.pg.query(
    'shop',
    `CREATE TABLE orders_archive AS SELECT g AS id, md5(g::text) || md5((g + 1)::text) || md5((g * 3)::text) || md5((g * 7)::text) AS payload FROM generate_series(1, 500000) g`,
  );
  input = stack.configInput({ shop: { db: 'shop' } }, { backup: { jobs: 1, splitTableMiB: 0.25, chunkMiB: 16 } });
  config = testConfig(input);
  configFile = writeConfigFile(input);
  base = mkdtempSync(join(tmpdir(), 'pgwarden-test-worker-tmp-'));
  savedTmp = process.env.TMPDIR;
  process.env.TMPDIR = base; // handed to the worker processes (test/harness/worker-process.ts keeps TMPDIR)
});

after(async () => {
  await Promise.all(workers.map((w) => w.stop('SIGKILL')));
  // Should the test fail, the agents it found go too.
  if (base) for (const line of agentsUnder(base)) process.kill(Number(line.split(':')[0]), 'SIGTERM');
  if (savedTmp === undefined) delete process.env.TMPDIR;
  else process.env.TMPDIR = savedTmp;
  await stack?.stop();
  if (base) rmSync(base, { recursive: true, force: true });
});

const copyDirs = () => readdirSync(base).filter((name) => name.startsWith('pgwarden-copy-'));

test('the copy-out directories of a worker killed with -9 mid-backup do not outlive the backup', async () => {
  const first = await startWorkerProcess(stack.env.client, input, configFile);
  workers.push(first);
  const handle = await startBackup(stack.env.client, config, { database: 'shop', kind: 'manual' });
  for (;;) {
    if (copyDirs().length > 0) break;
    const status = (await handle.describe()).status.name;
    if (status !== 'RUNNING') throw new Error(`the backup ended (${status}) before any copy-out started`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  await first.stop('SIGKILL');
  const left = copyDirs();
  assert.ok(left.length > 0, 'kill -9 ran no clean-up');

  // The worker is restarted; the backup's next attempt runs on it.
  workers.push(await startWorkerProcess(stack.env.client, input, configFile));
  const result = await waitFor<BackupResult>(handle);
  assert.ok(result.backupId);
  assert.deepEqual(copyDirs(), [], `nothing of the killed worker's (${left.join(', ')}) or of the finished attempt is left`);
  // The backup wrapped its data key (gpg in the workers' shared GnuPG home, under TMPDIR): no agent was started
  // there, which would run on after the workers.
  assert.deepEqual(agentsUnder(base), [], 'no gpg-agent for a GnuPG home of the workers');
});

/** gpg-agent processes whose command line names a home under `dir`. */
function agentsUnder(dir: string): string[] {
  const found: string[] = [];
  for (const pid of readdirSync('/proc').filter((name) => /^\d+$/.test(name))) {
    try {
      const args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      if (args.some((a) => a.endsWith('gpg-agent')) && args.some((a) => a.startsWith(dir))) found.push(`${pid}: ${args.join(' ')}`);
    } catch {
      // ended meanwhile
    }
  }
  return found;
}
