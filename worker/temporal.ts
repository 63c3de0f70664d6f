// Connections to Temporal for the worker and the CLI, with errors that say how to get one running.
import { readFileSync } from 'node:fs';
import { Client, Connection, type TLSConfig } from '@temporalio/client';
import type { NativeConnection } from '@temporalio/worker';
import { PgwardenError } from '../domain/errors.js';
import type { Config } from '../config/schema.js';
import { resolveSecret } from '../config/secrets.js';
import { SEARCH_ATTRIBUTES, searchAttributeCommand } from '../domain/ids.js';

function connectionOptions(config: Config) {
  const apiKey = config.temporal.apiKeyEnv ? resolveSecret({ env: config.temporal.apiKeyEnv }, 'the Temporal API key') : undefined;
  return {
    address: config.temporal.address,
    tls: tlsOptions(config.temporal.tls, apiKey !== undefined),
    ...(apiKey !== undefined ? { apiKey } : {}),
  };
}

/** temporal.tls as the SDK takes it: the files are read here, so a wrong path is a configuration error. */
function tlsOptions(tls: Config['temporal']['tls'], apiKey: boolean): boolean | TLSConfig {
  if (typeof tls === 'boolean') return tls || apiKey;
  const read = (file: string, key: string) => {
    try {
      return readFileSync(file);
    } catch (error) {
      throw new PgwardenError('Config', `temporal.tls.${key}: cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}): fix the path or the file's permissions.`);
    }
  };
  return {
    ...(tls.serverName ? { serverNameOverride: tls.serverName } : {}),
    ...(tls.caFile ? { serverRootCACertificate: read(tls.caFile, 'caFile') } : {}),
    ...(tls.certFile && tls.keyFile ? { clientCertPair: { crt: read(tls.certFile, 'certFile'), key: read(tls.keyFile, 'keyFile') } } : {}),
  };
}

function unreachable(config: Config, error: unknown): PgwardenError {
  return new PgwardenError(
    'Unavailable',
    `Cannot reach Temporal at ${config.temporal.address} (${(error as Error).message}). Start it (\`temporal server start-dev\`), or fix temporal.address in pgwarden.yaml` +
      (config.temporal.tls ? ' and temporal.tls (caFile: the CA of the server\'s certificate; certFile/keyFile: the client certificate it expects; serverName).' : '.'),
    { cause: error },
  );
}

export async function connectClient(config: Config): Promise<Client> {
  const options = connectionOptions(config); // a wrong temporal.tls file is a configuration error, not "unreachable"
  try {
    const connection = await Connection.connect({ ...options, connectTimeout: '5s' });
    return new Client({ connection, namespace: config.temporal.namespace });
  } catch (error) {
    throw unreachable(config, error);
  }
}

export async function connectWorker(config: Config): Promise<NativeConnection> {
  // Imported here: the CLI and scripts that only use the client need not load the worker's native bridge.
  const { NativeConnection } = await import('@temporalio/worker');
  const options = connectionOptions(config);
  try {
    return await NativeConnection.connect(options);
  } catch (error) {
    throw unreachable(config, error);
  }
}

/**
 * Registers pgwarden's search attributes in the namespace when they are missing, so every run can be found
 * by database and kind. Where the API is not allowed (Temporal Cloud), says how to add them by hand.
 */
export async function ensureSearchAttributes(client: Client, namespace: string): Promise<string | undefined> {
  const wanted = Object.values(SEARCH_ATTRIBUTES).map((key) => key.name);
  try {
    const existing = await client.connection.operatorService.listSearchAttributes({ namespace });
    const known = new Set([...Object.keys(existing.customAttributes ?? {}), ...Object.keys(existing.systemAttributes ?? {})]);
    const missing = wanted.filter((name) => !known.has(name));
    if (missing.length === 0) return undefined;
    await client.connection.operatorService.addSearchAttributes({
      namespace,
      searchAttributes: Object.fromEntries(missing.map((name) => [name, 2 /* INDEXED_VALUE_TYPE_KEYWORD */])),
    });
    return undefined;
  } catch (error) {
    return (
      `Could not register search attributes ${wanted.join(', ')} in namespace ${namespace} (${(error as Error).message}). ` +
      `Add them as Keyword: ${searchAttributeCommand(namespace)}`
    );
  }
}
