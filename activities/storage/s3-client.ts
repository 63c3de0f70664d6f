// The S3 client of one repository: its credentials from the environment, a private CA, how long a silent connection
// is waited on, and whether request bodies are signed.
import { S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';
import { readFileSync } from 'node:fs';
import { Agent } from 'node:https';
import { PgwardenError } from '../../domain/errors.js';
import type { S3RepositorySettings } from '../../config/schema.js';

/**
 * How long a request's connection may carry no byte, either way, before the request fails (and the SDK tries it
 * again, up to maxAttempts). Without it a server that stops answering without closing the connection (a graceful
 * stop that keeps it open, a network path that drops packets) holds a part upload, or a download, for ever.
 */
export const S3_IDLE_TIMEOUT_MS = 120_000;
/** How long opening a connection may take. */
const CONNECT_TIMEOUT_MS = 30_000;

export interface S3ClientOptions {
  /** S3_IDLE_TIMEOUT_MS unless given (tests stop servers and need not wait two minutes). */
  idleTimeoutMs?: number;
}

export function s3Client(name: string, settings: S3RepositorySettings, options: S3ClientOptions = {}): S3Client {
  const checksums = settings.requestChecksums === 'when_required' ? 'WHEN_REQUIRED' : 'WHEN_SUPPORTED';
  const config: S3ClientConfig = {
    region: settings.region,
    forcePathStyle: settings.forcePathStyle,
    requestChecksumCalculation: checksums,
    responseChecksumValidation: checksums,
    maxAttempts: 5,
    // With "Expect: 100-continue" (the SDK's default for bodies of 2 MiB and more) the SDK sends every upload part
    // on a new connection of its own: a TLS handshake and a round trip per part. The credentials are checked
    // before a backup starts, so the body is sent at once, on kept-alive connections.
    expectContinueHeader: false,
    // A private CA for this repository only (not NODE_EXTRA_CA_CERTS for the whole process); the SDK's own
    // agent settings otherwise (keep-alive, 50 sockets).
    requestHandler: {
      socketTimeout: options.idleTimeoutMs ?? S3_IDLE_TIMEOUT_MS,
      connectionTimeout: CONNECT_TIMEOUT_MS,
      ...(settings.caFile ? { httpsAgent: new Agent({ keepAlive: true, maxSockets: 50, ca: readCa(name, settings.caFile) }) } : {}),
    },
  };
  if (settings.endpoint) config.endpoint = settings.endpoint;
  if (settings.accessKeyIdEnv || settings.secretAccessKeyEnv) config.credentials = credentialsFromEnv(name, settings);
  // Under Node 20 the SDK prints a multi-line notice on every run (its releases after January 2027 need Node 22).
  // pgwarden says which Node versions it supports itself (README, package.json engines); the SDK's documented
  // switch (aws/aws-sdk-js-v3#7983) keeps stderr for pgwarden's own messages. Set it to "false" to see the notice.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const client = new S3Client(config);
  if (!signsPayload(settings)) client.middlewareStack.add(unsignedPayload, { step: 'build', name: 'pgwardenUnsignedPayload' });
  return client;
}

function credentialsFromEnv(name: string, settings: S3RepositorySettings): { accessKeyId: string; secretAccessKey: string } {
  const read = (variable: string | undefined, what: string) => {
    const value = variable ? process.env[variable] : undefined;
    if (!variable || !value) {
      throw new PgwardenError(
        'Config',
        `Repository "${name}": ${what} is not set${variable ? ` (environment variable ${variable})` : ` (repositories.${name}.${what === 'access key id' ? 'accessKeyIdEnv' : 'secretAccessKeyEnv'} is missing)`}: export it in the worker's environment.`,
      );
    }
    return value;
  };
  return {
    accessKeyId: read(settings.accessKeyIdEnv, 'access key id'),
    secretAccessKey: read(settings.secretAccessKeyEnv, 'secret access key'),
  };
}

function readCa(name: string, file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (error) {
    throw new PgwardenError('Config', `repositories.${name}.caFile: cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}): fix the path or its permissions.`);
  }
}

/**
 * Whether request bodies are hashed (SHA-256) into the request signature. S3 checks every uploaded byte either
 * way: by that hash, or by the CRC32 the SDK sends with each part (requestChecksums: when_supported). Over TLS,
 * with CRC32s, the second hash of every byte buys nothing (TLS protects the bytes in transit, and pgwarden's own
 * sha256 of every object is checked on every read), so it is skipped; plain http or no CRC32s keep it.
 */
export function signsPayload(settings: Pick<S3RepositorySettings, 'endpoint' | 'signPayload'> & { requestChecksums?: S3RepositorySettings['requestChecksums'] }): boolean {
  const https = settings.endpoint === undefined || settings.endpoint.startsWith('https:');
  return settings.signPayload ?? (!https || settings.requestChecksums === 'when_required');
}

/** Marks a request whose body is in memory (an upload part, a small object) "UNSIGNED-PAYLOAD" before signing. */
export function unsignedPayload<A extends { request: unknown }, R>(next: (args: A) => Promise<R>): (args: A) => Promise<R> {
  return async (args) => {
    const request = args.request as { headers?: Record<string, string>; body?: unknown };
    const inMemory = typeof request.body === 'string' || ArrayBuffer.isView(request.body);
    if (request.headers && inMemory && !Object.keys(request.headers).some((h) => h.toLowerCase() === 'x-amz-content-sha256')) {
      request.headers['x-amz-content-sha256'] = 'UNSIGNED-PAYLOAD';
    }
    return next(args);
  };
}
