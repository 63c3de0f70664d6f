// Composes the filters into the two directions of the data path:
//   seal:   source ─► filters ─► [zstd | gpg --symmetric] ─► sha256 + bytes ─► repository.put
//   unseal: repository.get ─► sha256 + bytes (checked) ─► [gpg --decrypt | zstd -d | filters | consumer…]
// The bracketed parts are processes joined by OS pipes (chain.ts): Node moves only the stored bytes and, on the
// way in, the plain bytes its Node-side filters must see. What every filter measured is read from its group by
// name (filters.ts).
import type { Socket } from 'node:net';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { PgwardenError } from '../../domain/errors.js';
import type { Repository } from '../storage/repository.js';
import { chain, type Step } from './chain.js';
import { compressStep, decompressStep, type CompressionSettings } from './compress.js';
import { decryptStep, encryptStep } from './encrypt.js';
import { FilterGroup, storedMeter } from './filters.js';
import { reblockStep, Sha256Meter, VerifyingMeter } from './measure.js';
import { watchTransfer } from '../progress.js';

export interface SealSettings {
  compression: CompressionSettings;
  /** What gpg gets on fd 3: the data key of the backup or WAL day (envelope), or a passphrase (before envelopes). */
  passphrase: string;
  /** gpg's --s2k-count (passphrase hashing per object); gpg's own default when absent. */
  s2kCount?: number;
  /** `passphrase` is a random data key: no key stretching per object (see encryptStep). */
  dataKey?: boolean;
}

export interface SealedObject {
  sha256: string;
  storedBytes: number;
}

/** Sha256Meter that ends only after `until` settles, failing if it rejects: a dead encoder never ends an object. */
class GatedMeter extends Sha256Meter {
  constructor(private readonly until: Promise<void>) {
    super();
  }

  override _flush(callback: (error?: Error | null) => void): void {
    this.until.then(() => callback(), (error: Error) => callback(error));
  }
}

/**
 * Streams `source` through the plain-side filters of `filters`, compression and encryption into `key`.
 * Resolves once the object is stored whole; any failure rejects and leaves no object behind. The group gets
 * the stored side (sha256, stored-size) too, readable while data flows (sizes) and by name once this resolved.
 */
export async function sealInto(
  repo: Repository,
  key: string,
  source: Readable | Step[],
  settings: SealSettings,
  options: { filters?: FilterGroup; signal?: AbortSignal; retainUntil?: Date } = {},
): Promise<SealedObject> {
  const filters = options.filters ?? new FilterGroup();
  // A source that is itself a process (psql copying rows out) writes straight into zstd: its bytes skip Node.
  const producers = Array.isArray(source) ? source : [];
  storedSideFree(filters, key);
  if (producers.length && filters.transforms().length) throw new PgwardenError('Failed', `Filters in Node cannot see the bytes of ${key}: they flow between processes.`);
  const encoder = chain([...producers, ...filters.steps(), compressStep(settings.compression), encryptStep(settings.passphrase, settings.dataKey ? 'data-key' : settings.s2kCount), reblockStep()], {
    stdin: producers.length ? 'ignore' : 'pipe',
    stdout: 'pipe',
    ...(options.signal ? { signal: options.signal } : {}),
  });
  const feeding = Array.isArray(source)
    ? Promise.resolve()
    : pipeline([source, ...filters.transforms(), encoder.stdin] as unknown as [Readable, Writable], { ...(options.signal ? { signal: options.signal } : {}) });
  // A source that fails must not end as a short object: the encoder is killed, and the stored stream ends
  // only once both the source and the encoder finished cleanly.
  feeding.catch(() => encoder.kill());
  const gate = Promise.all([feeding, encoder.done]).then(() => undefined);
  gate.catch(() => undefined); // observed by the meter's flush and below
  const meter = new GatedMeter(gate);
  filters.add(storedMeter(meter));
  // Its failure is the gate's (observed through the promises below); the repository may not be listening yet
  // (it awaits a mkdir before it pipes) or any more (its pipeline already failed): never an uncaught error.
  meter.on('error', () => undefined);
  encoder.stdout!.pipe(meter);
  encoder.stdout!.once('error', (error) => meter.destroy(error));
  const storing = repo.put(key, meter, options.signal, options.retainUntil ? { retainUntil: options.retainUntil } : undefined);
  // What failed first is the cause; what failed after it, because of it, is not.
  let first: 'source' | 'encoder' | 'storage' | undefined;
  feeding.catch(() => (first ??= 'source'));
  encoder.done.catch(() => (first ??= 'encoder'));
  // A failed upload reads no more: the encoder would wait for ever on a full pipe, and the source behind it, so
  // that this never settles (the backup hung, heartbeating, after S3 went away mid-upload). It is stopped.
  storing.catch(() => {
    first ??= 'storage';
    encoder.kill();
  });
  // Bytes into the encoder and out of it: either moving (a well compressible stream moves little on the way out) is progress.
  const fedBytes = () => (encoder.stdin as Partial<Socket> | null)?.bytesWritten ?? 0;
  const unwatch = watchTransfer(() => fedBytes() + meter.bytes);
  const [fed, encoded, stored] = await Promise.allSettled([feeding, encoder.done, storing]).finally(unwatch);
  if (fed.status === 'rejected' || encoded.status === 'rejected' || stored.status === 'rejected') {
    encoder.kill();
    meter.destroy();
    if (first === 'storage' && stored.status === 'rejected') throw stored.reason;
    // The source's failure (pg_dump's own message) explains most; then the encoder's; then storage.
    throw mostTelling(
      fed.status === 'rejected' ? fed.reason : undefined,
      encoded.status === 'rejected' ? encoded.reason : undefined,
      stored.status === 'rejected' ? stored.reason : undefined,
    );
  }
  filters.close();
  return { sha256: filters.result('sha256'), storedBytes: filters.result('stored-size') };
}

export interface ExpectedObject {
  key: string;
  sha256: string;
  storedBytes: number;
}

/**
 * Streams a stored object, decrypted and decompressed, through the process-side filters of `filters` into the
 * `consumer` processes (psql, pg_restore, tar), checking its sha256 and size. The plain bytes flow before the
 * checksum is known: callers load them only where they are discarded unless this resolves (a staging
 * database, a new data directory). Resolves with the last process's stdout when `output` is 'collect'.
 */
export async function unsealInto(
  repo: Repository,
  object: ExpectedObject,
  passphrase: string,
  consumer: Step[],
  options: { filters?: FilterGroup; signal?: AbortSignal; output?: 'collect' | 'ignore'; into?: Writable } = {},
): Promise<Buffer> {
  const filters = options.filters ?? new FilterGroup();
  storedSideFree(filters, object.key);
  if (filters.transforms().length) throw new PgwardenError('Failed', `Filters in Node cannot see the plain bytes of ${object.key}: they flow between processes.`);
  const meter = new VerifyingMeter(object, (m) => checksumError(repo, object, m));
  filters.add(storedMeter(meter));
  const decoder = chain([decryptStep(passphrase, object.key), decompressStep(object.key), ...filters.steps(), ...consumer], {
    stdout: options.output === 'collect' || options.into ? 'pipe' : 'ignore',
    ...(options.signal ? { signal: options.signal } : {}),
  });
  const collected: Buffer[] = [];
  // `into`: the plain bytes go on into a stream that stays open for more (one psql session loading several objects).
  const passedOn = options.into ? new Promise<void>((resolve, reject) => {
    decoder.stdout!.once('end', resolve);
    decoder.stdout!.once('error', reject);
    decoder.stdout!.pipe(options.into!, { end: false });
  }) : Promise.resolve();
  if (!options.into) decoder.stdout?.on('data', (chunk: Buffer) => collected.push(chunk));
  const stored = await repo.get(object.key, options.signal);
  const feeding = pipeline([stored, meter, decoder.stdin] as unknown as [Readable, Writable], { ...(options.signal ? { signal: options.signal } : {}) });
  const unwatch = watchTransfer(() => meter.bytes);
  // Whether the read failed while the decoder still ran (not because the decoder died and stopped taking bytes).
  let decoderEnded = false;
  let readFailedFirst = false;
  decoder.done.finally(() => (decoderEnded = true)).catch(() => undefined);
  feeding.catch(() => (readFailedFirst ||= !decoderEnded));
  const [fed, decoded] = await Promise.allSettled([feeding, decoder.done.then(() => passedOn)]).finally(unwatch);
  if (fed.status === 'fulfilled' && decoded.status === 'fulfilled') {
    filters.close();
    return Buffer.concat(collected);
  }
  decoder.kill();
  const feedError = fed.status === 'rejected' ? fed.reason : undefined;
  const decodeError = decoded.status === 'rejected' ? decoded.reason : undefined;
  if (feedError instanceof PgwardenError && feedError.kind === 'Integrity') throw feedError; // checksum: corrupt
  if (options.signal?.aborted) throw feedError ?? decodeError;
  // The read broke off (the storage went away mid-download): gpg's complaint about its cut input is a consequence,
  // and a retry may well succeed, which an integrity error would forbid.
  if (readFailedFirst && feedError instanceof PgwardenError) throw feedError;
  // A damaged object usually breaks decryption or decompression before its end is reached: read it once more,
  // hashing only, so that the error says "corrupt" when it is, rather than what choked on it.
  const recheck = new Sha256Meter();
  const intact = await pipeline(await repo.get(object.key), recheck, new Writable({ write: (_c, _e, done) => done() }))
    .then(() => recheck.bytes === object.storedBytes && recheck.sha256 === object.sha256)
    .catch(() => true); // cannot tell: report the original error
  if (!intact) throw checksumError(repo, object, recheck);
  throw mostTelling(decodeError, feedError);
}

/**
 * Reads a stored object through the size and sha256 check only (no key needed). The error of a mismatch is
 * `corrupt`'s, by default the one unsealInto gives.
 */
export async function checkStored(repo: Repository, object: ExpectedObject, options: { filters?: FilterGroup; signal?: AbortSignal; corrupt?: (meter: Sha256Meter) => Error } = {}): Promise<void> {
  const filters = options.filters ?? new FilterGroup();
  storedSideFree(filters, object.key);
  const meter = new VerifyingMeter(object, options.corrupt ?? ((m) => checksumError(repo, object, m)));
  filters.add(storedMeter(meter));
  await pipeline(await repo.get(object.key, options.signal), meter, new Writable({ write: (_c, _e, done) => done() }), { ...(options.signal ? { signal: options.signal } : {}) });
  filters.close();
}

/** A group measures one object's stored side: checked before any process starts, not after. */
function storedSideFree(filters: FilterGroup, key: string): void {
  if (filters.ended || filters.measures('stored-size') || filters.measures('sha256')) throw new PgwardenError('Failed', `The filter group given for ${key} already served another object: one group per object.`);
}

function checksumError(repo: Repository, object: ExpectedObject, meter: Sha256Meter): PgwardenError {
  return new PgwardenError(
    'Integrity',
    `${object.key} in repository "${repo.name}" is corrupt: expected ${object.storedBytes} bytes with sha256 ${object.sha256.slice(0, 16)}…, ` +
      `read ${meter.bytes} bytes with sha256 ${meter.sha256.slice(0, 16)}…. Restore from another backup or repository.`,
  );
}

/** The first error, in the order given, that explains a failure (not a "premature close" it caused elsewhere). */
export function mostTelling(...errors: unknown[]): unknown {
  const present = errors.filter((e) => e !== undefined);
  const generic = (e: unknown) => /premature close|aborted|EPIPE|destroyed|write after end/i.test(String((e as Error)?.message ?? e));
  return present.find((e) => !generic(e)) ?? present[0];
}

/** Seals a small payload (a WAL segment) in memory: the stored bytes, ready for one PUT. */
export async function sealBuffer(data: Buffer, settings: SealSettings): Promise<Buffer> {
  const encoder = chain([compressStep(settings.compression), encryptStep(settings.passphrase, settings.dataKey ? 'data-key' : settings.s2kCount)], { stdout: 'pipe' });
  const chunks: Buffer[] = [];
  encoder.stdout!.on('data', (chunk: Buffer) => chunks.push(chunk));
  const ended = new Promise<void>((resolve) => encoder.stdout!.once('end', resolve));
  encoder.stdin.end(data);
  await Promise.all([encoder.done, ended]);
  return Buffer.concat(chunks);
}

/** Opens a small sealed payload in memory. */
export async function unsealBuffer(stored: Buffer, passphrase: string, name: string): Promise<Buffer> {
  const decoder = chain([decryptStep(passphrase, name), decompressStep(name)], { stdout: 'pipe' });
  const chunks: Buffer[] = [];
  decoder.stdout!.on('data', (chunk: Buffer) => chunks.push(chunk));
  const ended = new Promise<void>((resolve) => decoder.stdout!.once('end', resolve));
  decoder.stdin.end(stored);
  await Promise.all([decoder.done, ended]);
  return Buffer.concat(chunks);
}
