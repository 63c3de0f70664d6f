// The commands PostgreSQL runs once per WAL segment would parse and validate pgwarden.yaml (yaml, zod) every time,
// which costs more than the rest of their start. They keep the validated configuration in their private spool
// instead, under a key made of the file's exact bytes and the pgwarden build that validated it: any change to
// either validates afresh, so what they use is always what the full validation accepted.
import { createHash } from 'node:crypto';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import type { Config } from './schema.js';

interface CachedConfig {
  key: string;
  config: Config;
}

/** The configuration at `path`, validated: from `cacheDir`/config.json when the file and `build` are unchanged. */
export async function loadConfigCached(path: string, cacheDir: string, build: string): Promise<Config> {
  let text: Buffer;
  try {
    text = readFileSync(path);
  } catch {
    return (await import('./load.js')).loadConfig(path); // says what is wrong with the path
  }
  const key = createHash('sha256').update(`${build}\u0000${path}\u0000`).update(text).digest('hex');
  const file = join(cacheDir, 'config.json');
  try {
    const cached = JSON.parse(readFileSync(file, 'utf8')) as CachedConfig;
    if (cached.key === key) return cached.config;
  } catch {
    /* not validated yet */
  }
  const { parseConfigText } = await import('./load.js');
  const config = parseConfigText(text.toString('utf8'), path); // the same bytes the key was made of
  // Only what survives JSON unchanged is kept (no undefined keys, no dates): the cache never alters a configuration.
  const entry: CachedConfig = { key, config };
  const serialized = JSON.stringify(entry);
  if (isDeepStrictEqual((JSON.parse(serialized) as CachedConfig).config, config)) {
    const temp = `${file}.${process.pid}.tmp`;
    try {
      writeFileSync(temp, serialized, { mode: 0o600 });
      renameSync(temp, file);
    } catch {
      /* a cache: the next process validates again */
    }
  }
  return config;
}
