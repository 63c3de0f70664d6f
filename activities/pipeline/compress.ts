// zstd compression filters: the zstd CLI in its own process, so compression runs beside Node, not in it.
import type { Duplex } from 'node:stream';
import { execa } from 'execa';
import { PgwardenError } from '../../config/errors.js';

export interface CompressionSettings {
  /** zstd level (1 fastest … 19 smallest; negative = faster still). */
  level: number;
  /** zstd worker threads; 0 lets zstd use one per core. */
  threads: number;
}

export const COMPRESSION_NAME = 'zstd';

function zstd(args: string[], what: string): Duplex {
  const child = execa('zstd', args, { stdin: 'pipe', stdout: 'pipe', stderr: 'pipe', buffer: { stdout: false, stderr: true } });
  child.catch(() => undefined); // failures surface through the duplex below
  const duplex = child.duplex();
  child.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') {
      duplex.destroy(new PgwardenError('Config', `zstd is not installed: apt-get install zstd (needed to ${what}).`));
    }
  });
  return duplex;
}

export function compressStream(settings: CompressionSettings): Duplex {
  const level = settings.level < 0 ? [`--fast=${-settings.level}`] : [`-${settings.level}`];
  return zstd(['-q', '-c', ...level, `-T${settings.threads}`, ...(settings.level > 19 ? ['--ultra'] : [])], 'compress backups');
}

export function decompressStream(): Duplex {
  return zstd(['-q', '-d', '-c'], 'decompress backups');
}
