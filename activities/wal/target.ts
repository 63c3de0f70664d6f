// Recovery targets as users write them: an ISO-8601 time with zone, an LSN, a transaction id, a restore point name, or "latest".
import { PgwardenError } from '../../domain/errors.js';
import { formatLsn, parseLsn } from './names.js';

export type RecoveryTarget =
  | { kind: 'latest' }
  | { kind: 'time'; time: string /* ISO-8601 UTC */ }
  | { kind: 'lsn'; lsn: string }
  | { kind: 'xid'; xid: string }
  | { kind: 'name'; name: string };

const ZONED_TIME = /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}(:?\d{2})?)$/i;

export function parseRecoveryTarget(text: string): RecoveryTarget {
  const value = text.trim();
  if (value === 'latest') return { kind: 'latest' };
  const prefixed = /^(lsn|xid|name|time):(.+)$/.exec(value);
  const [kind, rest] = prefixed ? [prefixed[1]!, prefixed[2]!] : [undefined, value];
  if (kind === 'name') return { kind: 'name', name: rest };
  if (kind === 'lsn' || (!kind && /^[0-9A-Fa-f]{1,8}\/[0-9A-Fa-f]{1,8}$/.test(rest))) {
    try {
      return { kind: 'lsn', lsn: formatLsn(parseLsn(rest)) };
    } catch (error) {
      throw new PgwardenError('Usage', `--to ${text}: ${(error as Error).message}.`);
    }
  }
  if (kind === 'xid' || (!kind && /^\d+$/.test(rest))) {
    if (!/^\d+$/.test(rest)) throw new PgwardenError('Usage', `--to ${text}: a transaction id is a number (xid:1234).`);
    return { kind: 'xid', xid: rest };
  }
  if (ZONED_TIME.test(rest)) {
    const iso = rest.replace(' ', 'T');
    if (Number.isNaN(Date.parse(iso))) throw new PgwardenError('Usage', `--to ${text} is not a valid time.`);
    // Microseconds kept: PostgreSQL stamps commits to the microsecond, and a target cut to milliseconds would
    // leave out a transaction committed at the very time given.
    return { kind: 'time', time: isoFromMicros(epochMicros(iso)) };
  }
  if (/^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}/.test(rest)) {
    throw new PgwardenError('Usage', `--to ${text} has no time zone: write it as ${rest.replace(' ', 'T')}Z (UTC) or with an offset such as +01:00.`);
  }
  throw new PgwardenError(
    'Usage',
    `--to ${text} is not a recovery target: use a time with zone (2026-11-25T14:30:00+01:00), an LSN (0/3000028), xid:1234, name:before-migration, or latest.`,
  );
}

/** Microseconds since 1970 of an ISO-8601 time with zone and up to 6 (more are cut) fractional digits. */
export function epochMicros(iso: string): bigint {
  const parts = /^(.*?)(?:\.(\d+))?(Z|[+-]\d{2}(?::?\d{2})?)$/i.exec(iso.trim());
  if (!parts) return BigInt(Date.parse(iso)) * 1000n;
  const fraction = (parts[2] ?? '').padEnd(6, '0').slice(0, 6);
  return BigInt(Date.parse(`${parts[1]}${parts[3]}`)) * 1000n + BigInt(fraction);
}

/** ISO-8601 UTC: three fractional digits as JavaScript writes them, six when the microseconds need them. */
export function isoFromMicros(micros: bigint): string {
  const iso = new Date(Number(micros / 1000n)).toISOString();
  const sub = micros % 1000n;
  return sub === 0n ? iso : iso.replace(/Z$/, `${sub.toString().padStart(3, '0')}Z`);
}

export function describeTarget(target: RecoveryTarget): string {
  switch (target.kind) {
    case 'latest':
      return 'the end of the archive (latest)';
    case 'time':
      return `time ${target.time}`;
    case 'lsn':
      return `LSN ${target.lsn}`;
    case 'xid':
      return `transaction ${target.xid}`;
    case 'name':
      return `restore point "${target.name}"`;
  }
}

/** The recovery_target_* settings for postgresql.auto.conf. */
export function recoverySettings(target: RecoveryTarget): Record<string, string> {
  switch (target.kind) {
    case 'latest':
      return {};
    case 'time':
      // A numeric offset: PostgreSQL checks the setting before it loads zone abbreviations ("Z", "UTC").
      return { recovery_target_time: target.time.replace('T', ' ').replace(/Z$/, '+00') };
    case 'lsn':
      return { recovery_target_lsn: target.lsn };
    case 'xid':
      return { recovery_target_xid: target.xid };
    case 'name':
      return { recovery_target_name: target.name };
  }
}
