// Composes the filters into the two directions of the data path:
//   seal:   source ─► compress ─► encrypt ─► sha256 + bytes ─► repository.put
//   unseal: repository.get ─► sha256 + bytes (checked at the end) ─► decrypt ─► decompress ─► sink
import { Readable, Writable, type Transform, type Duplex } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { PgwardenError } from '../../config/errors.js';
import type { Repository } from '../storage/repository.js';
import { compressStream, decompressStream, type CompressionSettings } from './compress.js';
import { decryptStream, encryptStream } from './encrypt.js';
import { Sha256Meter, VerifyingMeter } from './measure.js';

export interface SealSettings {
  compression: CompressionSettings;
  passphrase: string;
}

export interface SealedObject {
  sha256: string;
  storedBytes: number;
}

/**
 * Streams `source` through `taps` (counters that watch the plain bytes), compression and encryption into
 * `key`. Resolves once the object is stored whole; any failure rejects and leaves no object behind.
 * `onMeter` receives the stored-side meter, so progress can read it while data flows.
 */
export async function sealInto(
  repo: Repository,
  key: string,
  source: Readable,
  settings: SealSettings,
  options: { taps?: Transform[]; signal?: AbortSignal; onMeter?: (meter: Sha256Meter) => void } = {},
): Promise<SealedObject> {
  const meter = new Sha256Meter();
  options.onMeter?.(meter);
  const stages: Array<Readable | Duplex | Transform> = [
    source,
    ...(options.taps ?? []),
    compressStream(settings.compression),
    encryptStream(settings.passphrase),
    meter,
  ];
  const flowing = pipeline(stages as unknown as [Readable, ...Duplex[]], { signal: options.signal });
  const storing = repo.put(key, meter, options.signal).catch((error: unknown) => {
    meter.destroy(error as Error); // stop the producers: nobody is reading any more
    throw error;
  });
  const [flow, store] = await Promise.allSettled([flowing, storing]);
  if (flow.status === 'rejected' || store.status === 'rejected') {
    throw mostTelling(flow.status === 'rejected' ? flow.reason : undefined, store.status === 'rejected' ? store.reason : undefined);
  }
  return { sha256: meter.sha256, storedBytes: meter.bytes };
}

export interface ExpectedObject {
  key: string;
  sha256: string;
  storedBytes: number;
}

/**
 * Streams a stored object, decrypted and decompressed, into `sink`, checking its sha256 and size.
 * The plain bytes flow before the checksum is known: callers write them only somewhere that is discarded
 * unless this resolves (a restore's staging database, a new data directory).
 */
export async function unsealInto(
  repo: Repository,
  object: ExpectedObject,
  passphrase: string,
  sink: Writable,
  options: { signal?: AbortSignal; onMeter?: (meter: Sha256Meter) => void } = {},
): Promise<void> {
  const meter = new VerifyingMeter(object, (m) => checksumError(repo, object, m));
  options.onMeter?.(meter);
  const stored = await repo.get(object.key, options.signal);
  try {
    await pipeline([stored, meter, decryptStream(passphrase, object.key), decompressStream(), sink] as unknown as [Readable, ...Duplex[], Writable], {
      signal: options.signal,
    });
  } catch (error) {
    if (options.signal?.aborted || (error instanceof PgwardenError && error.kind === 'Integrity' && meter.writableFinished)) throw error;
    // A damaged object usually breaks decryption or decompression before its end is reached: read it once
    // more, hashing only, so that the error says "corrupt" when it is, rather than what choked on it.
    const recheck = new Sha256Meter();
    const intact = await pipeline(await repo.get(object.key), recheck, new Writable({ write: (_c, _e, done) => done() }))
      .then(() => recheck.bytes === object.storedBytes && recheck.sha256 === object.sha256)
      .catch(() => true); // cannot tell: report the original error
    if (!intact) throw checksumError(repo, object, recheck);
    throw error;
  }
}

function checksumError(repo: Repository, object: ExpectedObject, meter: Sha256Meter): PgwardenError {
  return new PgwardenError(
    'Integrity',
    `${object.key} in repository "${repo.name}" is corrupt: expected ${object.storedBytes} bytes with sha256 ${object.sha256.slice(0, 16)}…, ` +
      `read ${meter.bytes} bytes with sha256 ${meter.sha256.slice(0, 16)}…. Restore from another backup or repository.`,
  );
}

/** Of two errors from the two ends of a stream, the one that explains the failure (not "premature close"). */
export function mostTelling(...errors: unknown[]): unknown {
  const present = errors.filter((e) => e !== undefined);
  return (
    present.find((e) => e instanceof PgwardenError) ??
    present.find((e) => !/premature close|aborted|EPIPE|destroyed/i.test(String((e as Error)?.message ?? e))) ??
    present[0]
  );
}

/** For small payloads (tests, WAL history files): seal a Buffer. */
export function bufferSource(data: Buffer): Readable {
  return Readable.from([data]);
}

/** Seals a small payload (a WAL segment) in memory: the stored bytes, ready for one PUT. */
export async function sealBuffer(data: Buffer, settings: SealSettings): Promise<Buffer> {
  const chunks: Buffer[] = [];
  await pipeline([
    Readable.from([data]),
    compressStream(settings.compression),
    encryptStream(settings.passphrase),
    new Writable({ write: (chunk: Buffer, _e, done) => (chunks.push(chunk), done()) }),
  ] as unknown as [Readable, ...Duplex[], Writable]);
  return Buffer.concat(chunks);
}

/** Opens a small sealed payload in memory. */
export async function unsealBuffer(stored: Buffer, passphrase: string, name: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  await pipeline([
    Readable.from([stored]),
    decryptStream(passphrase, name),
    decompressStream(),
    new Writable({ write: (chunk: Buffer, _e, done) => (chunks.push(chunk), done()) }),
  ] as unknown as [Readable, ...Duplex[], Writable]);
  return Buffer.concat(chunks);
}
