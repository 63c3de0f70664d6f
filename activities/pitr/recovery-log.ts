// What the restored server's log says about its recovery: how many segments it restored, where it stopped, the
// last transaction replayed, and why it failed.
import { PgwardenError } from '../../domain/errors.js';
import { describeTarget, epochMicros, isoFromMicros, type RecoveryTarget } from '../wal/target.js';

/** Archived segments restored so far (each once: PostgreSQL may ask for one again, at a timeline switch or a restart). */
export function segmentsRestored(log: string): number {
  return new Set([...log.matchAll(/restored log file "([0-9A-F]{24})" from archive/g)].map((m) => m[1])).size;
}

/** The segment restored last, if any. */
export function lastRestored(log: string): string | undefined {
  return [...log.matchAll(/restored log file "([0-9A-F]{24})" from archive/g)].at(-1)?.[1];
}

/** PostgreSQL's own words: "recovery stopping before commit of transaction 741, time …". */
export function stopPoint(log: string): string | undefined {
  return /LOG: {2}(recovery stopping [^\n]+)/.exec(log)?.[1];
}

/** "last completed transaction was at log time 2026-11-25 14:29:59.1+00" as ISO-8601. */
export function lastTransactionAt(log: string): string | undefined {
  const text = /last completed transaction was at log time ([^\n]+)/.exec(log)?.[1];
  if (!text) return undefined;
  return isoFromMicros(epochMicros(text.trim().replace(' ', 'T').replace(/\+00$/, 'Z').replace(/([+-]\d\d)$/, '$1:00')));
}

export function failedEarly(log: string): boolean {
  return /FATAL|PANIC/.test(log);
}

export function recoveryFailure(log: string, target: RecoveryTarget): PgwardenError {
  const tail = log.trim().split('\n').slice(-8).join('\n  ');
  if (/recovery ended before configured recovery target was reached/.test(log)) {
    if (target.kind === 'latest') {
      return new PgwardenError(
        'Failed',
        `PostgreSQL ended recovery before "a configured recovery target" was reached, though this restore set none (it asked for ${describeTarget(target)}): ` +
          `a recovery_target_* setting came with the base backup (its postgresql.auto.conf):\n  ${tail}`,
        { retryable: false },
      );
    }
    return new PgwardenError('NotFound', `Recovery reached the end of the archive without reaching ${describeTarget(target)}:\n  ${tail}`);
  }
  if (/wal-fetch .*corrupt/.test(log)) return new PgwardenError('Integrity', `Recovery stopped on a corrupt archived WAL file:\n  ${tail}`);
  return new PgwardenError('Failed', `The restored cluster stopped during recovery:\n  ${tail}`, { retryable: false });
}
