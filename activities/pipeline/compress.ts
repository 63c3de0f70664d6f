// zstd, as steps of a process chain: compression runs in its own process, beside Node, not in it.
import { PgwardenError } from '../../domain/errors.js';
import type { Step } from './chain.js';

export interface CompressionSettings {
  /** zstd level (1 fastest … 19 smallest; negative = faster still). */
  level: number;
  /** zstd worker threads; 0 lets zstd use one per core. */
  threads: number;
}

export const COMPRESSION_NAME = 'zstd';

export function compressStep(settings: CompressionSettings): Step {
  const level = settings.level < 0 ? [`--fast=${-settings.level}`] : [`-${settings.level}`];
  return { command: 'zstd', args: ['-q', '-c', ...level, `-T${settings.threads}`], label: 'zstd (compress)' };
}

export function decompressStep(objectName: string): Step {
  return {
    command: 'zstd',
    args: ['-q', '-d', '-c'],
    label: 'zstd (decompress)',
    explain: (stderr) =>
      /corrupt|unknown header|unexpected end|premature end|checksum|truncated|prefix|frame/i.test(stderr)
        ? new PgwardenError('Integrity', `${objectName} does not decompress (${stderr.split('\n')[0]}): the object is damaged. Restore from another backup or repository.`)
        : undefined,
  };
}
