// How long activities tell the world how far they are: Temporal heartbeats (the CLI and UI read them).
import { Context } from '@temporalio/activity';
import type { Progress } from '../domain/progress.js';

export interface Reporter {
  report(progress: Progress): void;
  /** Aborted when the activity is cancelled, its worker shuts down, or its heartbeat timed out. */
  readonly signal: AbortSignal | undefined;
  /**
   * True once Temporal has given this attempt up (heartbeat timeout, activity no longer known): another
   * attempt may already be at work on the same objects, so this one must not clean up after itself.
   */
  superseded(): boolean;
}

let localListener: ((progress: Progress) => void) | undefined;
let localSignal: AbortSignal | undefined;

/** Outside Temporal (`pgwarden restore --local`), progress goes to this listener and `signal` stops the work. */
export function onLocalProgress(listener: ((progress: Progress) => void) | undefined, signal?: AbortSignal): void {
  localListener = listener;
  localSignal = listener ? signal : undefined;
}

/** What each running activity last reported: the keep-alive heartbeat repeats it instead of erasing it. */
const lastReported = new WeakMap<Context, Progress>();

/**
 * How long a transfer (a seal into storage, an unseal out of it) may move no byte before its activity stops
 * heartbeating: longer than anything that legitimately holds bytes back (pg_dump waits up to 5 minutes for its
 * locks before it writes a byte), short enough that a hung step is given up the same hour, not after 24 hours.
 */
export const TRANSFER_STALL_MS = 10 * 60_000;

interface Watched {
  bytes: () => number;
  last: number;
  movedAt: number;
}

/** The transfers each running activity has in flight, watched by its heartbeats. */
const transfers = new WeakMap<Context, Set<Watched>>();
/** Activities whose heartbeats stopped because a transfer stalled (warned once). */
const stalledContexts = new WeakSet<Context>();

/**
 * Registers a transfer of the running activity (no-op outside Temporal): while any registered transfer has moved
 * no byte (`bytes()` unchanged) for `stallMs`, the activity heartbeats no more, so its heartbeat timeout fires and
 * Temporal retries the step, instead of a hung transfer being kept alive by the keep-alive until the 24 h limit.
 */
export function watchTransfer(bytes: () => number): () => void {
  const context = activityContext();
  if (!context) return () => undefined;
  const watched: Watched = { bytes, last: bytes(), movedAt: Date.now() };
  const set = transfers.get(context) ?? new Set<Watched>();
  transfers.set(context, set);
  set.add(watched);
  return () => set.delete(watched);
}

/** Whether a transfer of `context` has moved no byte for `stallMs` (warns once when it first has). */
function stalled(context: Context, stallMs: number): boolean {
  const now = Date.now();
  let stuck: number | undefined;
  for (const watched of transfers.get(context) ?? []) {
    const bytes = watched.bytes();
    if (bytes !== watched.last) {
      watched.last = bytes;
      watched.movedAt = now;
    } else if (now - watched.movedAt >= stallMs) {
      stuck = watched.last;
    }
  }
  if (stuck === undefined) return false;
  if (!stalledContexts.has(context)) {
    stalledContexts.add(context);
    context.log.warn(
      `${context.info.activityType} (attempt ${context.info.attempt}): a transfer has moved no byte for ${Math.round(stallMs / 1000)} s (at ${stuck} bytes): ` +
        'heartbeats stop, so that Temporal times this attempt out and runs the step again.',
    );
  }
  return true;
}

/** The stall limit of each activity's keep-alive (keepAlive), which its own reports follow too. */
const stallLimits = new WeakMap<Context, number>();

/** A heartbeat, unless a transfer of the activity has stalled. */
function beat(context: Context, progress?: Progress): void {
  if (stalled(context, stallLimits.get(context) ?? TRANSFER_STALL_MS)) return;
  if (progress) context.heartbeat(progress);
  else context.heartbeat();
}

/** The running activity's context, or undefined outside Temporal (`--local`, tests). */
export function activityContext(): Context | undefined {
  try {
    return Context.current();
  } catch {
    return undefined;
  }
}

/**
 * Why Temporal cancelled the running activity, if it did: NOT_FOUND, CANCELLED, TIMED_OUT, WORKER_SHUTDOWN,
 * PAUSED or RESET (the SDK aborts the signal with a CancelledFailure carrying that message).
 */
export function cancelReason(context: Context): string | undefined {
  if (!context.cancellationSignal.aborted) return undefined;
  const reason: unknown = context.cancellationSignal.reason;
  return reason instanceof Error ? reason.message : String(reason);
}

/** Inside an activity: heartbeats. Outside (CLI with Temporal down, tests): the local listener, if any. */
export function currentReporter(): Reporter {
  const context = activityContext();
  if (context) {
    return {
      report: (progress) => {
        lastReported.set(context, progress);
        beat(context, progress);
      },
      signal: context.cancellationSignal,
      superseded: () => ['TIMED_OUT', 'NOT_FOUND'].includes(cancelReason(context) ?? ''),
    };
  }
  return { report: (progress) => localListener?.(progress), signal: localSignal, superseded: () => false };
}

/**
 * Heartbeats every `everyMs` with the activity's last progress, so that every activity (also the quick ones
 * that report nothing) tells Temporal its worker is alive: a worker that died is noticed within the heartbeat
 * timeout (workflows/policies.ts), not after the activity's whole start-to-close timeout. Alive is not busy: while
 * a transfer of the activity has moved no byte for `stallMs` (watchTransfer), neither this nor the activity's own
 * reports heartbeat.
 */
export function keepAlive(everyMs = 2_000, stallMs = TRANSFER_STALL_MS): () => void {
  const context = activityContext();
  if (!context) return () => undefined;
  stallLimits.set(context, stallMs);
  const repeat = () => beat(context, lastReported.get(context));
  repeat();
  const timer = setInterval(repeat, everyMs);
  timer.unref();
  return () => clearInterval(timer);
}

/** A warning for whoever runs this: the worker's log inside an activity, stderr in the CLI (--local, listings). */
export function warn(message: string): void {
  const context = activityContext();
  if (context) context.log.warn(message);
  else process.stderr.write(`pgwarden: warning: ${message}\n`);
}

/** Reports `read()` every `everyMs` until the returned stop function is called (which reports once more). */
export function reportEvery(reporter: Reporter, read: () => Progress, everyMs = 1_000): () => void {
  reporter.report(read());
  const timer = setInterval(() => reporter.report(read()), everyMs);
  timer.unref();
  return () => {
    clearInterval(timer);
    reporter.report(read());
  };
}

/** Runs `work` over `items`, at most `limit` at a time; the first failure stops new work and is thrown. */
export async function inParallel<T, R>(items: T[], limit: number, work: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  let failed: unknown;
  const lanes = Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, async () => {
    while (failed === undefined && next < items.length) {
      const index = next;
      next += 1;
      try {
        results[index] = await work(items[index]!, index);
      } catch (error) {
        failed ??= error;
      }
    }
  });
  await Promise.all(lanes);
  if (failed !== undefined) throw failed;
  return results;
}

/**
 * Passes on the objects of a repository listing and heartbeats as it goes (every 1,000 objects: an S3 page, or
 * every second), so that listing a week of WAL (tens of thousands of objects) is seen alive, shows how far it is,
 * and stops when the activity is cancelled.
 */
export async function* withListingProgress<T>(objects: AsyncIterable<T>, phase: string, reporter: Reporter = currentReporter()): AsyncIterable<T> {
  let count = 0;
  let reportedAt = Date.now();
  for await (const object of objects) {
    count += 1;
    if (count % 1000 === 0 || Date.now() - reportedAt >= 1000) {
      if (reporter.signal?.aborted) throw reporter.signal.reason;
      reporter.report({ phase, bytesDone: 0, itemsDone: count });
      reportedAt = Date.now();
    }
    yield object;
  }
  reporter.report({ phase, bytesDone: 0, itemsDone: count });
}
