// WAL file names, LSNs, segment headers and recovery targets: the arithmetic PITR plans are made of.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatLsn, parseHistory, parseLsn, parseWalFileName, readSegmentHeader, segmentName, segnoOfLsn } from '../../activities/wal/names.js';
import { parseRecoveryTarget, recoverySettings } from '../../activities/wal/target.js';
import { PgwardenError } from '../../domain/errors.js';

test('segment names and LSNs convert both ways, across a log boundary', () => {
  assert.equal(segmentName(1, 0xffn), '0000000100000000000000FF');
  assert.equal(segmentName(1, 0x100n), '000000010000000100000000');
  assert.equal(parseWalFileName('000000010000000100000000')?.segno, 0x100n);
  assert.equal(parseLsn('0/3000028'), 0x3000028n);
  assert.equal(formatLsn(0x1_0300_0028n), '1/3000028');
  assert.equal(segnoOfLsn(parseLsn('1/3000028')), 0x103n);
});

test('every kind of file PostgreSQL archives is recognised; anything else is not', () => {
  assert.equal(parseWalFileName('00000002.history')?.kind, 'history');
  assert.equal(parseWalFileName('000000010000000000000005.partial')?.kind, 'partial');
  assert.equal(parseWalFileName('000000010000000000000002.00000028.backup')?.kind, 'backup');
  assert.equal(parseWalFileName('000000030000000000000007')?.timeline, 3);
  assert.equal(parseWalFileName('../../etc/passwd'), undefined);
  assert.equal(parseWalFileName('archive.json'), undefined);
});

test('a long page header tells whose segment it is', () => {
  const page = Buffer.alloc(8192);
  page.writeUInt16LE(0xd110, 0); // PostgreSQL 15
  page.writeUInt16LE(0x0002, 2); // XLP_LONG_HEADER
  page.writeUInt32LE(1, 4);
  page.writeBigUInt64LE(7443089227358117920n, 24);
  page.writeUInt32LE(16 * 1024 * 1024, 32);
  page.writeUInt32LE(8192, 36);
  const header = readSegmentHeader(page);
  assert.equal(header?.systemIdentifier, '7443089227358117920');
  assert.equal(header?.magic, 0xd110);
  assert.equal(header?.segmentSize, 16 * 1024 * 1024);
  assert.equal(readSegmentHeader(Buffer.alloc(8192)), undefined, 'not the start of a segment');
});

test('timeline history files parse', () => {
  assert.deepEqual(parseHistory('1\t0/3000158\tno recovery target specified\n\n2\t0/5000000\tbefore 2026-11-25 14:30:00+00\n'), [
    { parent: 1, switchLsn: 0x3000158n },
    { parent: 2, switchLsn: 0x5000000n },
  ]);
});

test('recovery targets: times need a zone, the rest is recognised by shape or prefix', () => {
  assert.deepEqual(parseRecoveryTarget('latest'), { kind: 'latest' });
  assert.deepEqual(parseRecoveryTarget('2026-11-25T14:30:00+01:00'), { kind: 'time', time: '2026-11-25T13:30:00.000Z' });
  assert.deepEqual(parseRecoveryTarget('0/3000028'), { kind: 'lsn', lsn: '0/3000028' });
  assert.deepEqual(parseRecoveryTarget('2026-11-25T14:30:00.123456+01:00'), { kind: 'time', time: '2026-11-25T13:30:00.123456Z' }, 'microseconds kept');
  assert.deepEqual(recoverySettings(parseRecoveryTarget('2026-11-25 14:30:00.000001Z')), { recovery_target_time: '2026-11-25 14:30:00.000001+00' });
  assert.deepEqual(recoverySettings(parseRecoveryTarget('2026-11-25 14:30:00.5Z')), { recovery_target_time: '2026-11-25 14:30:00.500+00' });
  assert.deepEqual(parseRecoveryTarget('xid:1234'), { kind: 'xid', xid: '1234' });
  assert.deepEqual(parseRecoveryTarget('name:before-migration'), { kind: 'name', name: 'before-migration' });
  assert.throws(() => parseRecoveryTarget('2026-11-25 14:30'), (e: unknown) => e instanceof PgwardenError && e.kind === 'Usage' && /no time zone/.test(e.message));
  assert.throws(() => parseRecoveryTarget('yesterday'), /is not a recovery target/);
  // PostgreSQL checks recovery_target_time before zone abbreviations are loaded: a numeric offset only.
  assert.deepEqual(recoverySettings({ kind: 'time', time: '2026-11-25T13:30:00.000Z' }), { recovery_target_time: '2026-11-25 13:30:00.000+00' });
});
