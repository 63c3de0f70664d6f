// How long activities tell the world how far they are: Temporal heartbeats (the CLI and UI read them).
import { Context } from '@temporalio/activity';
import type { Progress } from '../workflows/messages.js';

export interface Reporter {
  report(progress: Progress): void;
  /** Aborted when the activity is cancelled (or its heartbeat timed out). */
  readonly signal: AbortSignal | undefined;
}

let localListener: ((progress: Progress) => void) | undefined;

/** Outside Temporal (`pgwarden restore --local`), progress goes to this listener instead of heartbeats. */
export function onLocalProgress(listener: ((progress: Progress) => void) | undefined): void {
  localListener = listener;
}

/** Inside an activity: heartbeats. Outside (CLI with Temporal down, tests): the local listener, if any. */
export function currentReporter(): Reporter {
  let context: Context | undefined;
  try {
    context = Context.current();
  } catch {
    context = undefined;
  }
  if (context) return { report: (progress) => context.heartbeat(progress), signal: context.cancellationSignal };
  return { report: (progress) => localListener?.(progress), signal: undefined };
}

/** A warning for whoever runs this: the worker's log inside an activity, stderr in the CLI (--local, listings). */
export function warn(message: string): void {
  let context: Context | undefined;
  try {
    context = Context.current();
  } catch {
    context = undefined;
  }
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
