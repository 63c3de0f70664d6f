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
        context.heartbeat(progress);
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
 * timeout (workflows/policies.ts), not after the activity's whole start-to-close timeout.
 */
export function keepAlive(everyMs = 2_000): () => void {
  const context = activityContext();
  if (!context) return () => undefined;
  const beat = () => {
    const progress = lastReported.get(context);
    if (progress) context.heartbeat(progress);
    else context.heartbeat();
  };
  beat();
  const timer = setInterval(beat, everyMs);
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
