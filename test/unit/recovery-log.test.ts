// What pgwarden reads from a restored server's log: segments restored, and why a recovery failed, in words that fit.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { recoveryFailure, segmentsRestored } from '../../activities/pitr/recovery-log.js';

test('a segment PostgreSQL restores twice counts once', () => {
  const log = ['restored log file "000000010000000000000003" from archive', 'restored log file "000000010000000000000004" from archive', 'restored log file "000000010000000000000004" from archive'].join('\n');
  assert.equal(segmentsRestored(log), 2);
});

test('a restore to latest that PostgreSQL ends before "the configured recovery target" names the setting, not the end of the archive twice', () => {
  const log = '2026-12-07 05:26:49.127 UTC [31878] FATAL:  recovery ended before configured recovery target was reached\n';
  const error = recoveryFailure(log, { kind: 'latest' });
  assert.doesNotMatch(error.message, /without reaching the end of the archive/);
  assert.match(error.message, /recovery_target_\* setting came with the base backup/);
  assert.match(recoveryFailure(log, { kind: 'xid', xid: '941' }).message, /without reaching transaction 941/);
});
