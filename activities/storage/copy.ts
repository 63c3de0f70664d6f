// Copies an object between repositories, checking its sha256 on the way (a second copy is only as good as this),
// and reads a stored copy back to verify it.
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { PgwardenError } from '../../domain/errors.js';
import { VerifyingMeter } from '../pipeline/measure.js';
import type { Repository, WriteOptions } from './repository.js';

export async function copyObject(
  from: Repository,
  to: Repository,
  object: { key: string; sha256: string; storedBytes: number },
  signal?: AbortSignal,
  options?: WriteOptions,
): Promise<void> {
  const checked = new VerifyingMeter(
    object,
    () => new PgwardenError('Integrity', `${object.key} in repository "${from.name}" is corrupt (size or sha256 differ from the manifest): not copied to "${to.name}".`),
  );
  const source = await from.get(object.key, signal);
  source.once('error', (error) => checked.destroy(error));
  source.pipe(checked);
  await to.put(object.key, checked, signal, options);
}

/** Reads a stored object whole and checks its size and sha256: proof that this repository's copy is there and intact. */
export async function verifyObject(repo: Repository, object: { key: string; sha256: string; storedBytes: number }, signal?: AbortSignal): Promise<void> {
  const checked = new VerifyingMeter(
    object,
    () => new PgwardenError('Integrity', `${object.key} in repository "${repo.name}" is corrupt or truncated (size or sha256 differ from the manifest).`),
  );
  await pipeline(await repo.get(object.key, signal), checked, new Writable({ write: (_chunk, _encoding, done) => done() }), signal ? { signal } : {});
}
