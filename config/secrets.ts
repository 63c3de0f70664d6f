// Resolves secrets named in pgwarden.yaml at the moment they are needed (never earlier, never into workflows).
import { readFileSync } from 'node:fs';
import { PgwardenError } from './errors.js';
import type { Config, SecretSource } from './schema.js';

/** Reads the secret; `what` names it in the error ("connection of database cartly"). */
export function resolveSecret(source: SecretSource, what: string): string {
  if ('env' in source) {
    const value = process.env[source.env];
    if (value === undefined || value.trim() === '') {
      throw new PgwardenError('Config', `Environment variable ${source.env} (${what}) is not set: export it in the worker's environment.`);
    }
    return value.trim();
  }
  try {
    const value = readFileSync(source.file, 'utf8').trim();
    if (value === '') throw new PgwardenError('Config', `Secret file ${source.file} (${what}) is empty.`);
    return value;
  } catch (error) {
    if (error instanceof PgwardenError) throw error;
    throw new PgwardenError('Config', `Cannot read secret file ${source.file} (${what}): ${(error as Error).message}.`);
  }
}

export function resolvePassphrase(config: Config): string {
  const source: SecretSource =
    'passphraseEnv' in config.encryption ? { env: config.encryption.passphraseEnv } : { file: config.encryption.passphraseFile };
  return resolveSecret(source, 'the backup encryption passphrase');
}
