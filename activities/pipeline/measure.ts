// A pass-through filter that hashes (sha256) and counts the bytes that flow through it.
import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import type { Step } from './chain.js';

export class Sha256Meter extends Transform {
  private readonly hash: Hash = createHash('sha256');
  private total = 0;
  private digest: string | undefined;
  /** When the first byte passed (ms since epoch), if one did. */
  firstByteAt: number | undefined;

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    if (this.total === 0) this.firstByteAt = Date.now();
    this.hash.update(chunk);
    this.total += chunk.length;
    callback(null, chunk);
  }

  /** Bytes seen so far (progress reports read this while data flows). */
  get bytes(): number {
    return this.total;
  }

  /** The hex sha256 of everything that passed; only after the stream ended. */
  get sha256(): string {
    if (this.digest === undefined) this.digest = this.hash.digest('hex');
    return this.digest;
  }
}

/** Counts bytes only: for progress on the uncompressed side, where a hash would be wasted work. */
export class ByteCounter extends Transform {
  private total = 0;
  /** When the first byte passed (ms since epoch), if one did. */
  firstByteAt: number | undefined;

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    if (this.total === 0) this.firstByteAt = Date.now();
    this.total += chunk.length;
    callback(null, chunk);
  }

  get bytes(): number {
    return this.total;
  }
}

/**
 * Hashes like Sha256Meter and, at the end, fails the stream unless size and sha256 are what was expected:
 * whatever reads through it never sees a clean end of a corrupt or truncated object.
 */
export class VerifyingMeter extends Sha256Meter {
  constructor(
    private readonly expected: { sha256: string; storedBytes: number },
    private readonly corrupt: (meter: VerifyingMeter) => Error,
  ) {
    super();
  }

  override _flush(callback: TransformCallback): void {
    if (this.bytes !== this.expected.storedBytes || this.sha256 !== this.expected.sha256) callback(this.corrupt(this));
    else callback();
  }
}

/**
 * dd between two processes of a chain: counts the bytes passing (its progress lines feed `report.bytes`) at the
 * cost of one more pipe, for streams that never pass through Node.
 */
export function byteCountStep(report: { bytes: number }): Step {
  return {
    command: 'dd',
    args: ['bs=1M', 'status=progress'],
    label: 'dd',
    onStderr: (text) => {
      const counts = [...text.matchAll(/(\d+) bytes/g)];
      if (counts.length) report.bytes = Number(counts.at(-1)![1]);
    },
  };
}

/**
 * dd at the end of a process chain, writing what it reads in blocks of 1 MiB: gpg writes 8 KiB at a time, and
 * Node, reading the pipe, would otherwise handle every one of them; so it reads full pipe buffers (64 KiB).
 */
export function reblockStep(): Step {
  return { command: 'dd', args: ['ibs=64K', 'obs=1M', 'status=none'], label: 'dd (reblock)' };
}
