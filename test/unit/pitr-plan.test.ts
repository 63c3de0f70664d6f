// The PITR planner on made-up archives: which timeline, which base backup, which WAL, what is staged; and the
// commands a restored cluster runs, quoted for postgresql.conf and the shell.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync, chmodSync, chownSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { archiveCommand, checkPath, confString, restoreCommand } from '../../activities/pitr/commands.js';
import { privateDirectory } from '../../activities/storage/private-directory.js';
import { missingUpTo, timelinePath, walRun, type ArchiveListing } from '../../activities/wal/coverage.js';
import { parseLsn, segmentName } from '../../activities/wal/names.js';
import {
  backupOnTimeline,
  chooseBaseBackup,
  firstFreeTimeline,
  productionTimeline,
  reachFrom,
  recoveryTimeline,
  searchRanges,
  walStage,
  type BaseBackupPoint,
} from '../../activities/wal/plan.js';
import { spoolFile, verifiedSpoolFile } from '../../activities/wal/spool.js';
import { PgwardenError } from '../../domain/errors.js';

const MiB16 = 16 * 1024 * 1024;
const lsn = (segno: number, offset = 0x28) => `0/${(segno * MiB16 + offset).toString(16).toUpperCase()}`;

/** An archive: segments per timeline (by number), history files as [parent, switch segment] pairs. */
function archive(segments: Record<number, number[]>, histories: Record<number, Array<[number, number]>> = {}, newest?: number): ArchiveListing {
  const files: ArchiveListing['files'] = [];
  for (const [tl, list] of Object.entries(segments)) {
    for (const s of list) files.push({ name: segmentName(Number(tl), BigInt(s)), key: '', size: 1, modified: new Date(Number(tl) === newest ? 2_000 + s : 1_000 + s) });
  }
  return {
    segmentSize: MiB16,
    segments: new Map(Object.entries(segments).map(([tl, list]) => [Number(tl), new Set(list.map(BigInt))])),
    histories: new Map(Object.entries(histories).map(([tl, h]) => [Number(tl), h.map(([parent, at]) => ({ parent, switchLsn: parseLsn(lsn(at, 0x100)) }))])),
    files,
  };
}

const backup = (id: string, timeline: number, start: number, stop: number, stopTime = `2026-11-25T0${stop % 10}:00:00Z`): BaseBackupPoint => ({
  id,
  timeline,
  startLsn: lsn(start),
  stopLsn: lsn(stop, 0x200),
  stopTime,
});

test('a test restore that archived timeline 2 is not followed: later base backups of the source recover along timeline 1', () => {
  // Timeline 2 branched off at segment 3 (a restored copy that archived here); the source went on on timeline 1.
  const listing = archive({ 1: [2, 3, 4, 5, 6, 7, 8], 2: [3, 4] }, { 2: [[1, 3]] });
  const late = backup('late', 1, 6, 6);
  const production = productionTimeline(listing, 1);
  assert.equal(recoveryTimeline(listing, { production, backup: late }).timeline, 1);
  assert.deepEqual(timelinePath(listing, 1, 6n), [{ timeline: 1, fromSegno: 6n }]);
  const reach = reachFrom(listing, 1, late);
  assert.equal(reach.run.last?.name, segmentName(1, 8n));
  assert.equal(reach.run.beyond, 0);
  // On timeline 2's history only a backup consistent before the switch lies; the late one does not.
  assert.equal(backupOnTimeline(listing, 2, backup('early', 1, 2, 2)), true);
  assert.equal(backupOnTimeline(listing, 2, late), false);
  // Asked for timeline 2 from the early one: timeline 1 up to the switch, then timeline 2.
  assert.deepEqual(timelinePath(listing, 2, 2n), [
    { timeline: 1, fromSegno: 2n, toSegno: 2n },
    { timeline: 2, fromSegno: 3n },
  ]);
});

test('the source decides the timeline; without it the one archived most recently does', () => {
  const listing = archive({ 1: [2, 3, 4, 5], 2: [3, 4] }, { 2: [[1, 3]] }, 1);
  assert.deepEqual(productionTimeline(listing, 2), { timeline: 2, reason: "the source's current timeline" });
  assert.equal(productionTimeline(listing, undefined).timeline, 1, 'timeline 1 got the newest segment');
  // A given backup that the source's timeline branched off before: its own timeline.
  const production = productionTimeline(listing, 2);
  const late = backup('late', 1, 5, 5);
  assert.equal(recoveryTimeline(listing, { production, backup: late }).timeline, 1);
  assert.equal(recoveryTimeline(listing, { production, backup: backup('early', 1, 2, 2) }).timeline, 2);
  assert.equal(recoveryTimeline(listing, { production, explicit: 1 }).timeline, 1);
});

test('the base backup before a target: by time, LSN, or where the restore point was found', () => {
  const backups = [backup('b1', 1, 2, 2, '2026-11-25T01:00:00Z'), backup('b2', 1, 5, 5, '2026-11-25T02:00:00Z'), backup('b3', 1, 9, 9, '2026-11-25T03:00:00Z')];
  assert.equal(chooseBaseBackup(backups, { kind: 'time', time: '2026-11-25T02:30:00.000Z' })?.id, 'b2');
  assert.equal(chooseBaseBackup(backups, { kind: 'lsn', lsn: lsn(9, 0x100) })?.id, 'b2', 'b3 is consistent only after');
  assert.equal(chooseBaseBackup(backups, { kind: 'name', name: 'x' }, parseLsn(lsn(7)))?.id, 'b2');
  assert.equal(chooseBaseBackup(backups, { kind: 'latest' })?.id, 'b3');
  assert.equal(chooseBaseBackup(backups, { kind: 'time', time: '2026-11-25T00:30:00.000Z' }), undefined);
  // Searched newest first: from each backup's consistency point to the next one's.
  const listing = archive({ 1: [2, 3, 4, 5, 6, 7, 8, 9, 10, 11] });
  assert.deepEqual(
    searchRanges(listing, backups, 11n).map((r) => [r.backup.id, r.fromSegno, r.toSegno]),
    [
      ['b3', 9n, 11n],
      ['b2', 5n, 9n],
      ['b1', 2n, 5n],
    ],
  );
});

test('a hole after the target blocks nothing before it; the run stops at the hole and says what lies beyond', () => {
  const listing = archive({ 1: [2, 3, 4, 6, 7], 2: [5, 6] }, { 2: [[1, 5]] });
  const path = timelinePath(listing, 1, 2n);
  assert.deepEqual(missingUpTo(listing, path, 4n), []);
  assert.deepEqual(missingUpTo(listing, path, 6n), [segmentName(1, 5n)]);
  const run = walRun(listing, path);
  assert.equal(run.last?.name, segmentName(1, 4n));
  assert.equal(run.next.name, segmentName(1, 5n));
  assert.equal(run.beyond, 2, 'segments 6 and 7 of timeline 1 cannot be reached');
  // Along timeline 2 the hole of timeline 1 is not on the way.
  assert.equal(walRun(listing, timelinePath(listing, 2, 2n)).last?.name, segmentName(2, 6n));
});

test('what is staged: the histories PostgreSQL probes, segments up to the target, and the first free timeline marked missing', () => {
  const listing = archive({ 1: [2, 3, 4, 5, 6], 2: [4, 5], 3: [5] }, { 2: [[1, 4]], 3: [[1, 4], [2, 5]] });
  assert.equal(firstFreeTimeline(listing, 1), 4, 'timelines 2 and 3 exist: the copy must not reuse them');
  const stage = walStage(listing, 1, reachFrom(listing, 1, backup('b', 1, 2, 2)), 3n);
  assert.deepEqual(stage.files, ['00000002.history', '00000003.history', segmentName(1, 2n), segmentName(1, 3n)]);
  assert.deepEqual(stage.missing, [segmentName(1, 7n), '00000004.history', '00000001.history'], 'timeline 1 has no history: asked for on promotion, answered at once');
  // Along timeline 2 the history PostgreSQL copies on promotion is 00000002.history, which is archived and staged.
  const along2 = walStage(listing, 2, reachFrom(listing, 2, backup('b', 1, 2, 2)), 5n);
  assert.equal(along2.missing.includes('00000001.history'), false);
  assert.equal(along2.missing.includes('00000002.history'), false);
});

test('paths that are not safe in a command are refused; safe ones are quoted for postgresql.conf and the shell', async () => {
  for (const bad of ['/tmp/x$(id)', '/tmp/x`id`', "/tmp/it's", '/tmp/a;b', '/tmp/%p', '/tmp/a"b', '/tmp/a\nb', 'relative/dir', '/tmp/../etc']) {
    assert.throws(() => checkPath(bad, '--datadir'), (e: unknown) => e instanceof PgwardenError && e.kind === 'Usage', bad);
  }
  assert.equal(checkPath('/srv/pitr/cartly 2026-11-25', '--datadir'), '/srv/pitr/cartly 2026-11-25');
  assert.equal(confString(`a'b\\c`), `'a''b\\\\c'`);

  // The restore command as /bin/sh runs it: a staged segment whose checksum holds is moved into place.
  const dir = mkdtempSync(join(tmpdir(), 'pgwarden-unit-'));
  const spool = join(dir, 'data dir', 'pgwarden', 'spool');
  mkdirSync(join(spool, 'in'), { recursive: true });
  chmodSync(spool, 0o700);
  chmodSync(join(spool, 'in'), 0o700);
  mkdirSync(join(dir, 'data dir', 'pg_wal'));
  spoolFile(join(spool, 'in'), '000000010000000000000002', Buffer.from('segment'));
  const command = restoreCommand({ configFile: join(dir, 'data dir', 'pgwarden', 'restore.yaml'), database: 'app', spool });
  const run = (name: string) => execa('sh', ['-c', command.replace(/%f/g, name).replace(/%p/g, 'pg_wal/RECOVERYXLOG')], { cwd: join(dir, 'data dir'), reject: false });
  assert.equal((await run('000000010000000000000002')).exitCode, 0);
  assert.equal(readFileSync(join(dir, 'data dir', 'pg_wal', 'RECOVERYXLOG'), 'utf8'), 'segment');
  // Asked for again (PostgreSQL rereads the last segment when recovery ends): served from the one kept, not the
  // archive (this spool's restore.yaml does not exist: a fetch would fail).
  rmSync(join(dir, 'data dir', 'pg_wal', 'RECOVERYXLOG'));
  const again = await run('000000010000000000000002');
  assert.equal(again.exitCode, 0, again.stderr);
  assert.equal(readFileSync(join(dir, 'data dir', 'pg_wal', 'RECOVERYXLOG'), 'utf8'), 'segment');
  // Only the last one served is kept; one changed since (PostgreSQL recycled its file) is not used.
  spoolFile(join(spool, 'in'), '000000010000000000000004', Buffer.from('next segment'));
  assert.equal((await run('000000010000000000000004')).exitCode, 0);
  assert.deepEqual(readdirSync(join(spool, 'in', 'served')).sort(), ['000000010000000000000004', '000000010000000000000004.sha256']);
  writeFileSync(join(dir, 'data dir', 'pg_wal', 'RECOVERYXLOG'), 'recycled and overwritten');
  const changed = await run('000000010000000000000004');
  assert.notEqual(changed.exitCode, 0, 'a kept segment that no longer matches its checksum is not served');
  writeFileSync(join(spool, 'in', '000000010000000000000003.missing'), new Date().toISOString());
  assert.equal((await run('000000010000000000000003')).exitCode, 1, 'known not to be archived');
  assert.match(archiveCommand({ configFile: '/a b/restore.yaml', archiveAs: 'app-pitr-1', spool: '/a b/spool' }), /--config '\/a b\/restore.yaml' wal-push --db app-pitr-1 --async --spool '\/a b\/spool' %p$/);
  rmSync(dir, { recursive: true, force: true });
});

test('a spooled file is used only while it matches its checksum', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pgwarden-unit-'));
  spoolFile(dir, 'seg', Buffer.from('good'));
  assert.equal(verifiedSpoolFile(dir, 'seg'), join(dir, 'seg'));
  spoolFile(dir, 'seg', Buffer.from('good'));
  writeFileSync(join(dir, 'seg'), 'bad');
  assert.equal(verifiedSpoolFile(dir, 'seg'), undefined, 'changed after it was spooled');
  writeFileSync(join(dir, 'other'), 'no checksum');
  assert.equal(verifiedSpoolFile(dir, 'other'), undefined);
  rmSync(dir, { recursive: true, force: true });
});

test('a private directory is made 0700, and refused when it is open to others or not ours', { skip: process.getuid?.() !== 0 && 'needs root to make a directory of another user' }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'pgwarden-unit-'));
  const mine = privateDirectory(join(dir, 'mine'), 'The spool', 'or choose another');
  assert.equal(mine, join(dir, 'mine'));
  chmodSync(mine, 0o755);
  assert.throws(() => privateDirectory(mine, 'The spool', 'or choose another'), /has mode 0755, not 0700/);
  const theirs = join(dir, 'theirs');
  mkdirSync(theirs, { mode: 0o700 });
  chownSync(theirs, 65534, 65534);
  assert.throws(() => privateDirectory(theirs, 'The spool', 'or choose another'), /belongs to uid 65534/);
  rmSync(dir, { recursive: true, force: true });
});
