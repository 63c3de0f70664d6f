// Copies an object between repositories, checking its sha256 on the way (a second copy is only as good as this).
import { PgwardenError } from '../../config/errors.js';
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
