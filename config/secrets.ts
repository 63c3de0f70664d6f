// Resolves secrets named in pgwarden.yaml at the moment they are needed (never earlier, never into workflows).
import { readFileSync } from 'node:fs';
import { PgwardenError } from '../domain/errors.js';
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

/** Where a passphrase given as passphraseEnv/passphraseFile comes from, if it is given. */
export function passphraseSource(settings: { passphraseEnv?: string | undefined; passphraseFile?: string | undefined }): SecretSource | undefined {
  if (settings.passphraseEnv !== undefined) return { env: settings.passphraseEnv };
  if (settings.passphraseFile !== undefined) return { file: settings.passphraseFile };
  return undefined;
}

/** "environment variable BACKUP_PASSPHRASE" / "file /run/secrets/x": for messages. */
export function describeSource(source: SecretSource): string {
  return 'env' in source ? `environment variable ${source.env}` : `file ${source.file}`;
}

/** The environment variables of the current and previous passphrases (what opens WAL archived before envelopes). */
export function passphraseEnvVars(config: Config): string[] {
  const e = config.encryption;
  return [e.passphraseEnv, ...e.previous.map((p) => ('passphraseEnv' in p && !('env' in p) && !('file' in p) ? p.passphraseEnv : undefined))].filter(
    (n): n is string => typeof n === 'string',
  );
}

/** The names of the environment variables the encryption settings refer to (children that need them get only these). */
export function encryptionEnvVars(config: Config): string[] {
  const e = config.encryption;
  const names = [e.passphraseEnv, ...e.recipients.map((r) => ('env' in r ? r.env : undefined))];
  for (const key of [...e.privateKeys, ...e.previous]) names.push('env' in key ? key.env : undefined, 'passphraseEnv' in key ? key.passphraseEnv : undefined);
  return names.filter((n): n is string => typeof n === 'string');
}
