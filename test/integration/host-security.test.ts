// What another local user can see or plant on a database or worker host. The WAL spool and the GnuPG home are
// private directories (refused when another user made them), nothing in a spool is used without its checksum, and
// during a point-in-time restore run as root no secret appears in any process's command line, nor in the
// environment of a child that does not need it. Runs as root (the case that matters: pgwarden in a container).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { execa } from 'execa';
import { serverBinDir } from '../../activities/postgres/binaries.js';
import { clusterUser, LocalCluster, type OsUser } from '../../activities/postgres/cluster.js';
import { walKey } from '../../activities/wal/archive.js';
import { lockHeld } from '../../activities/wal/spool.js';
import { openArchive } from '../../activities/wal/open.js';
import { startBaseBackup, startPitr } from '../../client/api.js';
import { waitFor } from '../../client/watch.js';
import type { PitrResult } from '../../domain/pitr.js';
import { CLI, startArchivingCluster, type ArchivingCluster } from '../harness/archiving.js';
import { WATCHER, type SeenProcess, type WatchReport } from '../harness/process-watch.js';
import { startStack, type Stack } from '../harness/stack.js';

const root = process.getuid?.() === 0;
let stack: Stack;
let source: ArchivingCluster;
let owner: OsUser; // the cluster's OS user
let intruder: OsUser; // another local user
const scratch = mkdtempSync(join(tmpdir(), 'pgwarden-host-security-'));
chmodSync(scratch, 0o755);
/** The cluster's temp directory (its TMPDIR), like /tmp: where its spool lived by default before ~/.pgwarden/spool. */
const clusterTmp = join(scratch, 'tmp');
let restored: PitrResult | undefined;

before(async () => {
  if (!root) return;
  stack = await startStack();
  owner = (await clusterUser('pgwarden'))!;
  intruder = (await clusterUser('pgwarden-intruder'))!;
  mkdirSync(clusterTmp);
  chmodSync(clusterTmp, 0o1777);
  source = await startArchivingCluster(stack, 'app', { env: { TMPDIR: clusterTmp } });
  await stack.worker(source.config);
  await source.pg.query('postgres', 'CREATE TABLE markers (id int PRIMARY KEY, at timestamptz NOT NULL DEFAULT clock_timestamp())');
});

after(async () => {
  if (restored) {
    await new LocalCluster({ dataDir: restored.datadir, binDir: serverBinDir(), port: restored.port, user: owner }).stop('immediate').catch(() => undefined);
  }
  await source?.pg.stop();
  await stack?.stop();
});

async function sql<T extends Record<string, unknown>>(text: string): Promise<T[]> {
  return (await source.pg.query<T>('postgres', text)).rows;
}

/** Writes a little: the name of the segment that holds it (the next one to be archived). */
async function currentSegment(): Promise<string> {
  await sql(`INSERT INTO markers (id) SELECT coalesce(max(id), 0) + 1 FROM markers`);
  return (await sql<{ name: string }>('SELECT pg_walfile_name(pg_current_wal_lsn()) AS name'))[0]!.name;
}

/** Writes a little and closes the segment that holds it; its name. */
async function closeSegment(): Promise<string> {
  const name = await currentSegment();
  await sql('SELECT pg_switch_wal()');
  return name;
}

async function archived(name: string): Promise<boolean> {
  return Boolean(await openArchive(source.config, 'app').repo.head(walKey('app', name)));
}

async function until(what: string, check: () => Promise<boolean> | boolean, seconds = 30): Promise<void> {
  for (const deadline = Date.now() + seconds * 1_000; !(await check()); ) {
    if (Date.now() > deadline) throw new Error(`${what} did not happen within ${seconds} s:\n${readFileSync(source.pg.cluster.logFile, 'utf8').slice(-2000)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A directory another user made (and lets everyone write). */
function planted(path: string): string {
  mkdirSync(path, { recursive: true });
  chownSync(path, intruder.uid, intruder.gid);
  chmodSync(path, 0o777);
  return path;
}

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

describe('a host shared with other users', { skip: !root && 'needs root (a second OS user, and every process readable)' }, () => {
  let spool: string;

  test('the default WAL spool lives in the cluster user\'s home: a directory another user made first in the temp directory changes nothing', async () => {
    // What the default was before: a fixed name in the shared temp directory, which anyone could make first.
    const squatted = planted(join(clusterTmp, `pgwarden-spool-${owner.uid}`));
    planted(join(squatted, `app-${sha256(Buffer.from(realpathSync(source.pg.cluster.dataDir))).slice(0, 10)}`));
    const name = await closeSegment();
    await until(`${name} archived`, () => archived(name));
    // And PostgreSQL has its archive command's answer: none is still waiting in the spool when the next test plants one.
    await until(`PostgreSQL told ${name} is archived`, async () => (await sql<{ wal: string | null }>('SELECT last_archived_wal AS wal FROM pg_stat_archiver'))[0]!.wal === name);
    spool = join(owner.home, '.pgwarden', 'spool', `app-${sha256(Buffer.from(realpathSync(source.pg.cluster.dataDir))).slice(0, 10)}`);
    assert.ok(existsSync(join(spool, 'out')), `the spool is in ${owner.name}'s home: ${spool}`);
    assert.equal(statSync(spool).uid, owner.uid);
    assert.equal(statSync(spool).mode & 0o777, 0o700);
  });

  test('a WAL spool another user made is refused: nothing is reported archived that was not, and archiving resumes once it is gone', async () => {
    // Only root (or the owner) can make one in the owner's home: the check is kept for every spool all the same.
    // The background pusher of the earlier pushes lingers (10 s idle) with the spool it checked when it started.
    await until('the background pusher has ended', () => !lockHeld(join(spool, 'push.lock')), 60);
    // (The spool, not the folder above it: other clusters of this user keep theirs there.)
    rmSync(spool, { recursive: true, force: true });
    let next = '';
    try {
      planted(spool);
      planted(join(spool, 'out'));
      // The other user says the next segment is archived already.
      next = await currentSegment();
      writeFileSync(join(spool, 'out', `${next}.ok`), '');
      chownSync(join(spool, 'out', `${next}.ok`), intruder.uid, intruder.gid);
      assert.equal(await closeSegment(), next);

      await until('the refusal in the server log', () => /WAL spool .* belongs to uid/.test(readFileSync(source.pg.cluster.logFile, 'utf8')));
      assert.equal(await archived(next), false);
      assert.ok(existsSync(join(source.pg.cluster.dataDir, 'pg_wal', 'archive_status', `${next}.ready`)), 'PostgreSQL keeps the segment until it is archived');
    } finally {
      rmSync(spool, { recursive: true, force: true }); // whatever happened: the tests after this one need archiving
    }
    const after = await closeSegment();
    await until(`${next} and ${after} archived`, async () => (await archived(next)) && (await archived(after)));
  });

  test('a push result in the spool counts only for the content it names', async () => {
    const next = await currentSegment();
    const ok = join(spool, 'out', `${next}.ok`);
    writeFileSync(ok, '0'.repeat(64)); // stale, or forged: not the sha256 of this segment
    chownSync(ok, owner.uid, owner.gid);
    assert.equal(await closeSegment(), next);
    await until(`${next} archived`, () => archived(next));
  });

  test('a file in the fetch spool is used only while its checksum holds', async () => {
    const name = await closeSegment();
    await until(`${name} archived`, () => archived(name));
    const fetchSpool = join(scratch, 'fetch-spool');
    mkdirSync(join(fetchSpool, 'in'), { recursive: true, mode: 0o700 });
    chmodSync(fetchSpool, 0o700);
    writeFileSync(join(fetchSpool, 'in', name), Buffer.alloc(16 * 1024 * 1024, 0x5a)); // not what the archive holds
    const destination = join(scratch, 'fetched');
    const run = await execa(process.execPath, [CLI, '--config', source.configFile, 'wal-fetch', '--db', 'app', '--spool', fetchSpool, '--prefetch', '0', name, destination], { reject: false, all: true });
    assert.equal(run.exitCode, 0, run.all);
    const head = await openArchive(source.config, 'app').repo.head(walKey('app', name));
    assert.equal(sha256(readFileSync(destination)), head?.metadata?.['plain-sha256'], 'the archived segment, not the planted file');
  });

  test('a GnuPG home another user made is refused, and no gpg.conf is read from it; the default one is not in the temp directory', async () => {
    const name = await closeSegment();
    await until(`${name} archived`, () => archived(name));
    const tmp = planted(join(scratch, 'tmp-gpg'));
    chmodSync(tmp, 0o1777);
    // Made first, under the name the default had in the temp directory, by another user.
    const home = planted(join(tmp, `pgwarden-gnupg-${process.getuid!()}`));
    const marker = join(scratch, 'gpg-status');
    writeFileSync(join(home, 'gpg.conf'), `status-file ${marker}\n`);
    chownSync(join(home, 'gpg.conf'), intruder.uid, intruder.gid);
    const fetch = (env: Record<string, string>, to: string) =>
      execa(process.execPath, [CLI, '--config', source.configFile, 'wal-fetch', '--db', 'app', '--spool', mkdtempSync(join(scratch, 'spool-')), '--prefetch', '0', name, join(scratch, to)], {
        env: { ...process.env, TMPDIR: tmp, ...env },
        reject: false,
        all: true,
      });
    const byDefault = await fetch({}, 'fetched-default');
    assert.equal(byDefault.exitCode, 0, `the default GnuPG home (~/.pgwarden/gnupg) is not the planted one: ${byDefault.all}`);
    // Given explicitly, a directory another user made is refused.
    const run = await fetch({ PGWARDEN_GNUPGHOME: home }, 'fetched-2');
    assert.equal(existsSync(marker), false, "gpg did not read the other user's gpg.conf");
    assert.equal(run.exitCode, 126, run.all);
    assert.match(run.all, /GnuPG home .* belongs to uid/);
  });

  test('no secret in any command line during a point-in-time restore, and children hold only the secrets they need', async () => {
    await waitFor(await startBaseBackup(stack.env.client, source.config, { database: 'app' }));
    const last = await closeSegment();
    await until(`${last} archived`, () => archived(last));
    const secrets = {
      passphrase: process.env[stack.passphraseEnv]!,
      s3SecretKey: stack.s3.secretAccessKey,
      databasePassword: source.pg.password,
    };
    const watcher = execa(process.execPath, [WATCHER, '--watch'], { stdin: 'pipe', reject: false });
    await new Promise<void>((resolve) => {
      watcher.stdout!.once('data', () => resolve());
      watcher.stdin!.write(`${JSON.stringify(secrets)}\n`);
    });
    try {
      restored = await waitFor<PitrResult>(await startPitr(stack.env.client, source.config, { database: 'app', target: 'latest', datadir: join(scratch, 'restored') }));
    } finally {
      watcher.stdin!.end();
    }
    const report = JSON.parse((await watcher).stdout.trim().split('\n').at(-1)!) as WatchReport;
    // The machine is shared: only this test's processes count (the worker's children, its clusters, their commands).
    const byPid = new Map(report.processes.map((p) => [p.pid, p]));
    const descends = (p: SeenProcess, from: (q: SeenProcess) => boolean): boolean => {
      for (let q: SeenProcess | undefined = p; q; q = byPid.get(q.ppid)) if (from(q)) return true;
      return false;
    };
    const ours = [scratch, dirname(source.configFile), source.pg.cluster.dataDir];
    const processes = report.processes.filter((p) => descends(p, (q) => q.ppid === process.pid || q.images.some((i) => ours.some((o) => i.argv.includes(o)))));
    const images = processes.flatMap((p) => p.images.map((image) => ({ ...image, pid: p.pid, program: image.argv.split(' ')[0]!.split('/').pop()! })));
    const show = (i: (typeof images)[number]) => `${i.program} (${i.pid}): ${i.argv} [argv: ${i.inArgv.join(', ')}; environment: ${i.inEnviron.join(', ')}]`;
    // Long-lived enough to be seen every time (runuser and pg_ctl live for milliseconds; seen most times).
    for (const tool of ['tar', 'gpg', 'zstd']) assert.ok(images.some((i) => i.program === tool), `the watcher saw ${tool} (${report.scans} scans)`);

    assert.deepEqual(images.filter((i) => i.inArgv.length > 0).map(show), [], 'no secret in any command line');

    // The worker's children, and what the restored cluster runs: the source's password reaches none of them.
    const worker = processes.filter((p) => descends(p, (q) => q.ppid === process.pid)).map((p) => p.pid);
    const restoredCluster = processes.filter((p) => descends(p, (q) => q.images.some((i) => i.argv.split(' ')[0]!.endsWith('/postgres') && i.argv.includes(restored!.datadir)))).map((p) => p.pid);
    assert.ok(worker.length > 5 && restoredCluster.length > 3, `${worker.length} worker children, ${restoredCluster.length} restored cluster processes`);
    const family = new Set([...worker, ...restoredCluster]);
    assert.deepEqual(images.filter((i) => family.has(i.pid) && i.inEnviron.includes('databasePassword')).map(show), [], "the source's password stays in the worker");
    // Programs that read or write bytes need no secret at all (gpg gets the passphrase on a pipe).
    const tools = images.filter((i) => ['tar', 'gpg', 'zstd', 'pg_verifybackup', 'pg_waldump'].includes(i.program));
    assert.deepEqual(tools.filter((i) => i.inEnviron.length > 0).map(show), [], 'tools hold no secret in their environment');
  });
});
