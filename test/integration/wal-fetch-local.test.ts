// wal-fetch tells a local problem from a corrupt archive: an archived segment it cannot open because of this host
// (here: its GnuPG home cannot be made) is not reported as corrupt, and a corrupt one still is. Real PostgreSQL
// WAL, a file-system repository, the CLI as restore_command runs it.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { stringify } from 'yaml';
import { CLI } from '../harness/archiving.js';
import { secretEnv } from '../harness/config.js';
import { startCluster, type TestCluster } from '../harness/postgres.js';

let pg: TestCluster;
let dir: string;
let segment: string;
let configFile: string;

before(async () => {
  pg = await startCluster(['wal_level = replica', 'wal_keep_size = 1GB']);
  dir = mkdtempSync(join(tmpdir(), 'pgwarden-test-fetch-local-'));
  mkdirSync(join(dir, 'pg_wal'));
  await pg.query('postgres', 'CREATE TABLE t (id serial); INSERT INTO t DEFAULT VALUES');
  segment = (await pg.query<{ name: string }>('postgres', 'SELECT pg_walfile_name(pg_switch_wal()) AS name')).rows[0]!.name;
  await pg.query('postgres', 'CHECKPOINT');
  copyFileSync(join(pg.cluster.dataDir, 'pg_wal', segment), join(dir, 'pg_wal', segment));
  configFile = join(dir, 'pgwarden.yaml');
  writeFileSync(
    configFile,
    stringify({
      temporal: { address: '127.0.0.1:7233' }, // never asked
      encryption: { passphraseEnv: secretEnv('test passphrase: not for production', 'PGWARDEN_TEST_PASSPHRASE') },
      repositories: { local: { type: 'fs', path: join(dir, 'repo') } },
      databases: { app: { connection: { env: secretEnv(pg.url('postgres'), 'PGWARDEN_TEST_URL') }, repositories: ['local'] } },
    }),
  );
});

after(async () => {
  await pg?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const pgwarden = (args: string[], env: Record<string, string> = {}) =>
  execa(process.execPath, [CLI, '--config', configFile, ...args], { cwd: dir, reject: false, all: true, env });
const newSpool = () => mkdtempSync(join(tmpdir(), 'pgwarden-test-spool-'));
const fetch = (to: string, env: Record<string, string> = {}, spool = newSpool()) => pgwarden(['wal-fetch', '--db', 'app', '--prefetch', '0', '--spool', spool, segment, to], env);
const sha = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

test('wal-fetch names a local problem as such, not as a corrupt archive; a corrupt object is still called corrupt', async () => {
  const spool = newSpool();
  const pushed = await pgwarden(['wal-push', '--db', 'app', '--spool', spool, join('pg_wal', segment)]);
  assert.equal(pushed.exitCode, 0, pushed.all);

  // restore_command's first segment: the spool keeps the opened data key for the next ones.
  const fetchSpool = newSpool();
  const fine = await fetch(join(dir, 'fetched'), {}, fetchSpool);
  assert.equal(fine.exitCode, 0, fine.all);
  assert.equal(sha(join(dir, 'fetched')), sha(join(dir, 'pg_wal', segment)));

  // The GnuPG home cannot be made: its parent is a file.
  const blocker = join(dir, 'not-a-directory');
  writeFileSync(blocker, '');
  // With that spool (the data key is at hand: gpg is first needed for the segment itself), and with a new one.
  for (const [what, run] of [
    ['the spool of earlier fetches', () => fetch(join(dir, 'local'), { PGWARDEN_GNUPGHOME: join(blocker, 'gnupg') }, fetchSpool)],
    ['a new spool', () => fetch(join(dir, 'local'), { PGWARDEN_GNUPGHOME: join(blocker, 'gnupg') })],
  ] as const) {
    const local = await run();
    assert.equal(local.exitCode, 126, `${what}: an error stops recovery (README): ${local.all}`);
    assert.doesNotMatch(local.all ?? '', /corrupt|integrity/i, `${what}: the archive is not blamed for a local problem: ${local.all}`);
    assert.match(local.all ?? '', /GnuPG home/, `${what}: it says what is wrong: ${local.all}`);
    assert.match(local.all ?? '', /not-a-directory/, `${what}: and where`);
  }


  // Damage the stored object: that is integrity.
  const stored = readdirSync(join(dir, 'repo'), { recursive: true, encoding: 'utf8' }).find((f) => f.endsWith(`${segment}.zst.gpg`))!;
  const bytes = readFileSync(join(dir, 'repo', stored));
  bytes[bytes.length - 40]! ^= 0xff;
  writeFileSync(join(dir, 'repo', stored), bytes);
  const corrupt = await fetch(join(dir, 'corrupt'));
  assert.equal(corrupt.exitCode, 126, corrupt.all);
  assert.match(corrupt.all ?? '', /corrupt/, corrupt.all);
});
