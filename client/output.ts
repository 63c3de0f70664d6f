// What the CLI prints: a result for people or one JSON object for scripts; progress on stderr.
import { formatBytes, formatDuration } from '../domain/format.js';
import { EXIT_CODES, PgwardenError, type FailureKind } from '../domain/errors.js';
import type { ActivityStatus } from './watch.js';

export class Output {
  private lastLine = '';
  private lastPrintedAt = 0;
  private lastBytes: { at: number; bytes: number } | undefined;
  private readonly tty = Boolean(process.stderr.isTTY);

  constructor(readonly json: boolean) {}

  /** A status line for people (stderr, so stdout stays clean for --json). */
  info(line: string): void {
    this.clearProgress();
    process.stderr.write(`${line}\n`);
  }

  progress(status: ActivityStatus): void {
    const p = status.progress;
    const parts: string[] = [];
    if (p) {
      parts.push(p.phase);
      const total = p.bytesTotal ? ` / ~${formatBytes(p.bytesTotal)}${p.bytesTotal > 0 ? ` (${Math.min(99, Math.floor((100 * p.bytesDone) / p.bytesTotal))}%)` : ''}` : '';
      parts.push(`${formatBytes(p.bytesDone)}${total}`);
      const now = Date.now();
      if (this.lastBytes && now > this.lastBytes.at && p.bytesDone >= this.lastBytes.bytes) {
        const rate = ((p.bytesDone - this.lastBytes.bytes) * 1000) / (now - this.lastBytes.at);
        if (rate > 0) parts.push(`${formatBytes(rate)}/s`);
      }
      this.lastBytes = { at: now, bytes: p.bytesDone };
      if (p.storedBytes) parts.push(`stored ${formatBytes(p.storedBytes)}`);
      // A total that is an estimate (WAL a recovery replays) can be passed: then the count alone, never "7/4".
      const done = p.itemsDone ?? 0;
      if (p.itemsTotal) parts.push(done > p.itemsTotal ? `${done} ${p.itemsName ?? 'objects'}` : `${done}/${p.itemsTotal} ${p.itemsName ?? 'objects'}`);
      if (p.detail) parts.push(p.detail);
    } else {
      parts.push(`${status.activity} starting`);
    }
    if (status.attempt > 1) parts.push(`attempt ${status.attempt}${status.lastFailure ? ` after: ${status.lastFailure.split('\n')[0]}` : ''}`);
    const line = parts.join('  ');
    if (this.tty) {
      process.stderr.write(`\r\x1b[2K${line}`);
      this.lastLine = line;
    } else if (Date.now() - this.lastPrintedAt > 15_000 || line.split('  ')[0] !== this.lastLine.split('  ')[0]) {
      process.stderr.write(`${line}\n`);
      this.lastLine = line;
      this.lastPrintedAt = Date.now();
    }
  }

  private clearProgress(): void {
    if (this.tty && this.lastLine) process.stderr.write('\r\x1b[2K');
    this.lastLine = '';
  }

  /** The command's result: JSON on stdout with --json, else the human text. */
  result(value: unknown, human: () => string): void {
    this.clearProgress();
    if (this.json) process.stdout.write(`${JSON.stringify({ ok: true, result: value })}\n`);
    else process.stdout.write(`${human()}\n`);
  }

  /** The CLI stopped on a signal (client/follow.ts): says what goes on and how to reach it. */
  interrupted(message: string, exitCode: number): void {
    this.clearProgress();
    if (this.json) process.stdout.write(`${JSON.stringify({ ok: false, error: { kind: 'Interrupted', message, exitCode } })}\n`);
    else process.stderr.write(`pgwarden: ${message}\n`);
  }

  /** Prints the error and returns the exit code for it. */
  failure(error: unknown): number {
    this.clearProgress();
    const kind: FailureKind = error instanceof PgwardenError ? error.kind : 'Failed';
    const message = error instanceof Error ? error.message : String(error);
    const code = EXIT_CODES[kind];
    if (this.json) process.stdout.write(`${JSON.stringify({ ok: false, error: { kind, message, exitCode: code } })}\n`);
    else process.stderr.write(`pgwarden: ${message}\n`);
    if (!(error instanceof PgwardenError) && process.env.PGWARDEN_DEBUG && error instanceof Error) process.stderr.write(`${error.stack}\n`);
    return code;
  }
}

export { formatBytes, formatDuration };
