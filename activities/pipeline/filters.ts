// One group of filters on one data path (pgBackRest's IO filter group): each filter is added to the group, and
// what it measured (sha256, raw and stored bytes, rows per COPY, first byte) is read back by name once the path
// ended whole. Sizes can also be read while bytes flow, for progress heartbeats.
import type { Transform } from 'node:stream';
import { PgwardenError } from '../../domain/errors.js';
import type { Step } from './chain.js';
import { CopyRowCounter } from './count-rows.js';
import { byteCountStep, ByteCounter, type Sha256Meter } from './measure.js';

/** What filters measure, by name. */
export interface Results {
  /** Plain bytes (before compression, after decompression): counted in Node or by dd between processes. */
  'raw-size': number;
  /** Stored bytes (compressed and encrypted). */
  'stored-size': number;
  /** Hex sha256 of the stored bytes. */
  sha256: string;
  /** Rows of each COPY, in order, as the server reported them (psql's "COPY n"). */
  'copy-rows': number[];
  /** Rows per table of a plain dump counted as it passed through Node (table name as pg_dump wrote it). */
  'table-rows': Map<string, number>;
}
export type ResultName = keyof Results;
/** The results that grow while bytes flow, safe to read before the group closed. */
export type SizeName = 'raw-size' | 'stored-size';

export interface Filter {
  /** Runs in Node on the bytes passing (sealing: before the processes, on the plain bytes). */
  transform?: Transform;
  /** Runs as a process of the chain (sealing: between the source and zstd; unsealing: after zstd -d). */
  step?: Step;
  /** What it measures, by name. */
  results: { [N in ResultName]?: () => Results[N] };
  /** When its first byte passed (ms since epoch), if it knows and one did. */
  firstByteAt?: () => number | undefined;
}

export class FilterGroup {
  private readonly filters: Filter[] = [];
  private closed = false;

  /** Adds filters in the order bytes meet them; a name is measured by one filter only. */
  add(...filters: Filter[]): this {
    if (this.closed) throw new PgwardenError('Failed', 'A filter was added to a data path that already ended.');
    for (const filter of filters) {
      for (const name of Object.keys(filter.results) as ResultName[]) {
        if (this.measures(name)) throw new PgwardenError('Failed', `Two filters of one data path both measure ${name}.`);
      }
      this.filters.push(filter);
    }
    return this;
  }

  measures(name: ResultName): boolean {
    return this.filters.some((f) => f.results[name] !== undefined);
  }

  /** The Node-side filters, in order. */
  transforms(): Transform[] {
    return this.filters.flatMap((f) => (f.transform ? [f.transform] : []));
  }

  /** The process-side filters, in order. */
  steps(): Step[] {
    return this.filters.flatMap((f) => (f.step ? [f.step] : []));
  }

  /** A size so far (0 while nothing measures it yet): progress reads this while bytes flow. */
  bytes(name: SizeName): number {
    return this.filters.find((f) => f.results[name])?.results[name]!() ?? 0;
  }

  /** When the first byte passed any filter that knows, if one did. */
  firstByteAt(): number | undefined {
    const times = this.filters.map((f) => f.firstByteAt?.()).filter((t): t is number => t !== undefined);
    return times.length ? Math.min(...times) : undefined;
  }

  /** The path ended whole: results can be read. Called by the data path (seal.ts), not by its users. */
  close(): void {
    this.closed = true;
  }

  get ended(): boolean {
    return this.closed;
  }

  /** What the filter measuring `name` found, once the path ended whole. */
  result<N extends ResultName>(name: N): Results[N] {
    if (!this.closed) throw new PgwardenError('Failed', `The ${name} of a data path was read before the path ended.`);
    const read = this.filters.find((f) => f.results[name])?.results[name];
    if (!read) throw new PgwardenError('Failed', `No filter of this data path measures ${name}.`);
    return read();
  }
}

/** Counts the plain bytes in Node, and when the first came. */
export function rawSize(): Filter {
  const counter = new ByteCounter();
  return { transform: counter, results: { 'raw-size': () => counter.bytes }, firstByteAt: () => counter.firstByteAt };
}

/** Counts the plain bytes with dd, between processes, for bytes that never pass through Node. */
export function rawSizeStep(): Filter {
  const report = { bytes: 0 };
  return { step: byteCountStep(report), results: { 'raw-size': () => report.bytes } };
}

/** Counts the rows of every COPY of a plain dump passing through Node. */
export function tableRows(): Filter {
  const counter = new CopyRowCounter();
  return { transform: counter, results: { 'table-rows': () => counter.rows } };
}

/** A transform that measures nothing (a text filter on the plain bytes). */
export function through(transform: Transform): Filter {
  return { transform, results: {} };
}

/**
 * What a producer reports of itself (psql copying rows out: its dd's bytes and its "COPY n" tags). Holds no
 * process: the producer's steps carry them; a missing count is an error when read.
 */
export function reported(report: { bytes: number; rows?: number[] }, what: string): Filter {
  return {
    results: {
      'raw-size': () => report.bytes,
      'copy-rows': () => {
        if (report.rows === undefined) throw new PgwardenError('Failed', `psql did not report how many rows it copied for ${what}: not trusting that piece.`);
        return report.rows;
      },
    },
  };
}

/** The stored side: sha256 and size of what is written or read (added by seal.ts, never by its users). */
export function storedMeter(meter: Sha256Meter): Filter {
  return { results: { 'stored-size': () => meter.bytes, sha256: () => meter.sha256 }, firstByteAt: () => meter.firstByteAt };
}
