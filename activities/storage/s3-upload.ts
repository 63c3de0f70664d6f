// Streams one object into S3 as a multipart upload, with part buffers allocated once per upload and reused.
//
// @aws-sdk/lib-storage's Upload does the same job, but it holds on to every chunk of a part until the part is
// full and then copies them all into a new buffer of the part's size: per stored byte, two allocations that live
// for hundreds of milliseconds. In the worker those outlive V8's young generation and come back only through
// full garbage collections of the whole heap, many per gigabyte: measured as the largest single cost of the
// worker per GB. Here each arriving chunk is copied into a buffer that is reused for the next part, and dies young.
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  PutObjectCommand,
  UploadPartCommand,
  type CompletedPart,
  type UploadPartCommandOutput,
  type S3Client,
} from '@aws-sdk/client-s3';
import type { Readable } from 'node:stream';
import { PgwardenError } from '../../domain/errors.js';

/** S3 allows at most 10,000 parts; from this many on, each further part is twice as large (see partSizeFor). */
const PARTS_PER_SIZE = 2_000;
const MAX_PARTS = 10_000;
const MAX_PART_BYTES = 5 * 1024 ** 3;

export interface UploadTarget {
  Bucket: string;
  Key: string;
}

export interface UploadOptions {
  partBytes: number;
  /** Parts sent at once; one more buffer fills meanwhile. */
  concurrency: number;
  /** Each part carries a CRC32 that S3 checks (the SDK adds it): the upload must announce it when it starts. */
  crc32: boolean;
  /** Set on the object when it is created (Object Lock retention). */
  objectParams?: { ObjectLockMode?: 'COMPLIANCE' | 'GOVERNANCE'; ObjectLockRetainUntilDate?: Date };
  signal?: AbortSignal;
}

/**
 * Part buffers, kept for the next upload instead of left to the garbage collector: a buffer whose upload ended
 * is otherwise held until a full collection finds it, and the worker's memory would grow with the number of
 * objects written between collections. At most this many of a size are kept.
 */
const POOLED_PER_SIZE = 16;
const pool = new Map<number, Buffer[]>();

function takeBuffer(size: number): Buffer {
  return pool.get(size)?.pop() ?? Buffer.allocUnsafeSlow(size);
}

function returnBuffer(buffer: Buffer): void {
  const kept = pool.get(buffer.length) ?? [];
  if (kept.length < POOLED_PER_SIZE) kept.push(buffer);
  pool.set(buffer.length, kept);
}

/** What CompleteMultipartUpload needs of one part's answer: its ETag and whichever checksum S3 computed. */
function completedPart(target: UploadTarget, number: number, result: UploadPartCommandOutput): CompletedPart {
  if (!result.ETag) throw new PgwardenError('Failed', `S3 answered part ${number} of ${target.Key} without an ETag: if this repeats, check that the endpoint speaks the S3 API and that no proxy strips response headers.`);
  return {
    PartNumber: number,
    ETag: result.ETag,
    ...(result.ChecksumCRC32 ? { ChecksumCRC32: result.ChecksumCRC32 } : {}),
    ...(result.ChecksumCRC32C ? { ChecksumCRC32C: result.ChecksumCRC32C } : {}),
    ...(result.ChecksumCRC64NVME ? { ChecksumCRC64NVME: result.ChecksumCRC64NVME } : {}),
    ...(result.ChecksumSHA1 ? { ChecksumSHA1: result.ChecksumSHA1 } : {}),
    ...(result.ChecksumSHA256 ? { ChecksumSHA256: result.ChecksumSHA256 } : {}),
  };
}

/** Part n (1-based) is partBytes, doubled for every 2,000 parts before it: 5 MiB parts reach about 310 GB. */
export function partSizeFor(partNumber: number, partBytes: number): number {
  return Math.min(MAX_PART_BYTES, partBytes * 2 ** Math.floor((partNumber - 1) / PARTS_PER_SIZE));
}

/**
 * Uploads `body` to `target`: one PUT when it fits one part, else a multipart upload, aborted on any failure
 * (of the body, of a part, or by `signal`), so no invisible parts are left behind.
 * One function on purpose (about 100 lines): the clean-up at its end must see every part in flight, the buffers
 * they hold and the upload id, which the loop shares with it.
 */
export async function uploadStream(client: S3Client, target: UploadTarget, body: Readable, options: UploadOptions): Promise<void> {
  const abort = new AbortController();
  const onAbort = () => {
    abort.abort(options.signal?.reason);
    body.destroy(); // a source that has stalled must not keep the upload waiting
  };
  options.signal?.addEventListener('abort', onAbort, { once: true });
  // A failed part fails the upload at once, also while the loop below waits for the next chunk of a slow source.
  abort.signal.addEventListener('abort', () => body.destroy(), { once: true });
  const free: Buffer[] = [];
  const inFlight = new Set<Promise<void>>();
  const parts: CompletedPart[] = [];
  let creating: Promise<string> | undefined;
  // Never cut short by the abort signal: a request aborted on our side may still have started the upload on the
  // server's, and only its answer (the UploadId) lets the clean-up below abort it.
  const uploadId = () =>
    (creating ??= client.send(new CreateMultipartUploadCommand({ ...target, ...options.objectParams, ...(options.crc32 ? { ChecksumAlgorithm: 'CRC32' } : {}) })).then((r) => {
      // A malformed answer may be one bad response (a proxy cut short): tried again, by the activity's policy.
      if (!r.UploadId) throw new PgwardenError('Failed', `S3 started no multipart upload for ${target.Key} (its answer had no UploadId): if this repeats, check that the endpoint speaks the S3 API and that no proxy rewrites its answers.`);
      return r.UploadId;
    }));
  let failure: unknown;

  const send = (number: number, holder: Buffer, length: number) => {
    const sending = (async () => {
      const id = await uploadId();
      const result = await client.send(new UploadPartCommand({ ...target, UploadId: id, PartNumber: number, Body: holder.subarray(0, length) }), {
        abortSignal: abort.signal,
      });
      parts.push(completedPart(target, number, result));
    })()
      .catch((error: unknown) => {
        failure ??= error;
        abort.abort(error);
      })
      .finally(() => {
        inFlight.delete(sending);
        free.push(holder);
      });
    inFlight.add(sending);
  };
  /** An empty buffer of the size part `number` needs, once a part in flight has given one back. */
  const nextBuffer = async (number: number): Promise<Buffer> => {
    while (free.length === 0 && inFlight.size >= options.concurrency) await Promise.race(inFlight);
    const size = partSizeFor(number, options.partBytes);
    const reused = free.pop();
    if (reused && reused.length === size) return reused;
    if (reused) returnBuffer(reused);
    return takeBuffer(size);
  };
  const stopped = () => failure !== undefined || abort.signal.aborted;

  let buffer: Buffer | undefined;
  try {
    let partNumber = 1;
    buffer = await nextBuffer(1);
    let filled = 0;
    for await (const chunk of body as AsyncIterable<Buffer>) {
      let offset = 0;
      while (offset < chunk.length) {
        if (stopped()) throw failure ?? abort.signal.reason;
        const copied = chunk.copy(buffer, filled, offset);
        filled += copied;
        offset += copied;
        if (filled < buffer.length) continue;
        send(partNumber, buffer, filled); // a full part: the object is a multipart upload
        partNumber += 1;
        // The same stream needs as many parts on every attempt: only a larger part size helps, so it is not retried.
        if (partNumber > MAX_PARTS) throw new PgwardenError('Config', `${target.Key} needs more than ${MAX_PARTS} parts of ${options.partBytes} bytes and up: raise the repository's partSizeMiB.`);
        buffer = await nextBuffer(partNumber);
        filled = 0;
      }
    }
    if (stopped()) throw failure ?? abort.signal.reason;
    if (partNumber === 1) {
      // All of it fits in less than one part: a plain PUT.
      await client.send(new PutObjectCommand({ ...target, ...options.objectParams, Body: buffer.subarray(0, filled), ContentLength: filled }), { abortSignal: abort.signal });
      return;
    }
    if (filled > 0) send(partNumber, buffer, filled);
    while (inFlight.size > 0) await Promise.race(inFlight);
    if (failure !== undefined) throw failure;
    parts.sort((a, b) => a.PartNumber! - b.PartNumber!);
    await client.send(new CompleteMultipartUploadCommand({ ...target, UploadId: await uploadId(), MultipartUpload: { Parts: parts } }), {
      abortSignal: abort.signal,
    });
  } catch (error) {
    // What stopped it first: a part that failed, the caller's cancellation, or the source.
    failure ??= options.signal?.aborted ? options.signal.reason ?? error : error;
    abort.abort(failure);
    await Promise.allSettled([...inFlight]);
    const id = creating ? await creating.catch(() => undefined) : undefined;
    if (id) await client.send(new AbortMultipartUploadCommand({ ...target, UploadId: id })).catch(() => undefined);
    throw failure;
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
    // Every part has been answered (or abandoned, its request aborted): the buffers go back to the pool.
    await Promise.allSettled([...inFlight]);
    for (const b of new Set([...free, ...(buffer ? [buffer] : [])])) returnBuffer(b);
  }
}
