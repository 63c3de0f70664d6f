// Failure kinds shared by the CLI, the worker and activities: each has a documented exit code.

/**
 * Exit codes of every pgwarden command (README "Exit codes"). wal-fetch/wal-push follow
 * PostgreSQL's archive conventions instead and document their own.
 */
export const EXIT_CODES = {
  ok: 0,
  Failed: 1, // the operation failed at run time; the message says where
  Usage: 2, // wrong command-line arguments
  Config: 3, // pgwarden.yaml invalid, unknown database or repository, a secret missing or refused
  NotFound: 4, // backup id, bucket or object does not exist
  Refused: 5, // refused for safety: target database exists, another backup of the database is running, backup from a newer pgwarden
  Integrity: 6, // checksum mismatch, corrupted or truncated object, wrong passphrase, row counts differ, verify found damage, a drill's data failed a check
  Unavailable: 7, // Temporal, PostgreSQL or storage cannot be reached (network, server down)
  Interrupted: 130, // Ctrl-C (143 after SIGTERM) while waiting: the CLI stopped waiting, the workflow goes on in Temporal
} as const;

export type FailureKind = Exclude<keyof typeof EXIT_CODES, 'ok'>;

const KINDS = new Set<string>(Object.keys(EXIT_CODES));

/** An error whose message says what happened and what to do, tagged with the kind that picks its exit code. */
export class PgwardenError extends Error {
  readonly kind: FailureKind;
  /** Whether trying again without changing anything can help (network blips, a server restarting): the
   *  run-time failures; never what a person must fix (config, missing backups, safety refusals, corruption). */
  readonly retryable: boolean;

  constructor(kind: FailureKind, message: string, options: { retryable?: boolean; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = `Pgwarden${kind}Error`;
    this.kind = kind;
    this.retryable = options.retryable ?? (kind === 'Unavailable' || kind === 'Failed');
  }
}

export function isFailureKind(value: unknown): value is FailureKind {
  return typeof value === 'string' && KINDS.has(value) && value !== 'ok';
}
