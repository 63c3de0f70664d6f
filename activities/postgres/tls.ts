// What a connection URL's sslmode means, once, for every PostgreSQL connection pgwarden makes: its own (node-postgres)
// and the libpq tools it runs (pg_dump, pg_restore, psql, pg_basebackup). The meaning is libpq's, made explicit:
// node-postgres on its own reads sslmode=require as "check the certificate" and libpq as "do not".
//
//   sslmode       TLS                                     certificate                        host name
//   disable       never                                   -                                  -
//   allow         plain first, TLS if the server refuses   checked only when a CA is known    not checked
//   prefer        TLS first, plain if that fails (default) checked only when a CA is known    not checked
//   require       always                                  checked only when a CA is known    not checked
//   verify-ca     always                                  checked against the CA             not checked
//   verify-full   always                                  checked against the CA             checked
//
// The CA is sslrootcert=FILE (or sslrootcert=system, with verify-full only: the system's trusted CAs), else libpq's
// default file ~/.postgresql/root.crt when it exists; verify-ca and verify-full without a CA are refused. A client
// certificate is sslcert=/sslkey=, else ~/.postgresql/postgresql.crt and .key when both exist. Unix-domain sockets
// never use TLS.
import { existsSync } from 'node:fs';
import { homedir, userInfo } from 'node:os';
import { join } from 'node:path';
import type { ConnectionOptions } from 'node:tls';
import { parse } from 'pg-connection-string';
import { PgwardenError } from '../../domain/errors.js';

export const SSL_MODES = ['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full'] as const;
export type SslMode = (typeof SSL_MODES)[number];

export interface PgTls {
  mode: SslMode;
  /** A CA file, or "system"; undefined: no CA. */
  rootCert?: string;
  cert?: string;
  key?: string;
  /** Unix-domain socket: libpq never uses TLS there, whatever sslmode says. */
  socket: boolean;
}

/** libpq looks for its default files in the home directory (the password database's; $HOME for newer libpq). */
function defaultFile(name: string): string | undefined {
  const homes = new Set([process.env.HOME, safeHome()].filter((h): h is string => Boolean(h)));
  for (const home of homes) {
    const path = join(home, '.postgresql', name);
    if (existsSync(path)) return path;
  }
  return undefined;
}

function safeHome(): string | undefined {
  try {
    return userInfo().homedir || homedir();
  } catch {
    return undefined;
  }
}

/** The TLS settings of a postgresql:// URL, with libpq's defaults made explicit; `what` names it in errors. */
export function pgTls(url: string, what: string): PgTls {
  const params = new URL(url).searchParams;
  const host = params.get('host') ?? decodeURIComponent(new URL(url).hostname);
  const socket = host.startsWith('/');
  const given = params.get('sslmode') ?? 'prefer';
  if (!(SSL_MODES as readonly string[]).includes(given)) {
    throw new PgwardenError('Config', `The connection URL of ${what} has sslmode=${given}: use one of ${SSL_MODES.join(', ')}.`);
  }
  const mode = given as SslMode;
  const rootCert = params.get('sslrootcert') || defaultFile('root.crt');
  const cert = params.get('sslcert') || (defaultFile('postgresql.crt') && defaultFile('postgresql.key') ? defaultFile('postgresql.crt') : undefined);
  const key = params.get('sslkey') || (cert && !params.get('sslcert') ? defaultFile('postgresql.key') : undefined);
  if (!socket && (mode === 'verify-ca' || mode === 'verify-full') && !rootCert) {
    throw new PgwardenError(
      'Config',
      `The connection URL of ${what} asks for sslmode=${mode} but names no CA: add sslrootcert=/path/to/ca.crt ` +
        `(the CA that signed the server's certificate${mode === 'verify-full' ? ', or sslrootcert=system for the system\'s trusted CAs' : ''}).`,
    );
  }
  if (rootCert === 'system' && mode !== 'verify-full') {
    throw new PgwardenError('Config', `The connection URL of ${what} has sslrootcert=system with sslmode=${mode}: the system's CAs are only used with sslmode=verify-full.`);
  }
  return { mode, socket, ...(rootCert ? { rootCert } : {}), ...(cert ? { cert } : {}), ...(key ? { key } : {}) };
}

/**
 * node-postgres's `ssl` for each connection attempt, in order: allow and prefer try a second way when the first
 * is refused, as libpq does (allow: plain, then TLS; prefer: TLS, then plain).
 */
export function nodeSslAttempts(url: string, tls: PgTls, what: string): Array<false | ConnectionOptions> {
  if (tls.mode === 'disable' || tls.socket) return [false];
  // pg-connection-string's libpq-compatible mode gives require, verify-ca and verify-full their libpq meaning
  // and reads the certificate files; the parameters it sees are the explicit ones above.
  const explicit = new URL(url);
  const set = (name: string, value: string | undefined) => (value && value !== 'system' ? explicit.searchParams.set(name, value) : explicit.searchParams.delete(name));
  // allow and prefer use TLS the way require does, when they use it.
  explicit.searchParams.set('sslmode', tls.mode === 'allow' || tls.mode === 'prefer' ? 'require' : tls.mode);
  set('sslrootcert', tls.rootCert);
  set('sslcert', tls.cert);
  set('sslkey', tls.key);
  explicit.searchParams.delete('uselibpqcompat');
  let ssl: ConnectionOptions;
  try {
    ssl = parse(explicit.toString(), { useLibpqCompat: true }).ssl as ConnectionOptions;
  } catch (error) {
    throw new PgwardenError('Config', `The TLS files named in the connection URL of ${what} cannot be read: ${(error as Error).message}`, { cause: error });
  }
  if (tls.mode === 'allow') return [false, ssl];
  if (tls.mode === 'prefer') return [ssl, false];
  return [ssl];
}

/** The same settings for libpq (its environment variables): children get secrets and settings via env, never argv. */
export function libpqTlsEnv(tls: PgTls): Record<string, string> {
  return {
    PGSSLMODE: tls.mode,
    ...(tls.rootCert ? { PGSSLROOTCERT: tls.rootCert } : {}),
    ...(tls.cert ? { PGSSLCERT: tls.cert } : {}),
    ...(tls.key ? { PGSSLKEY: tls.key } : {}),
  };
}

/** Whether a failed first attempt lets allow or prefer try their second way, as libpq does: prefer after anything
 *  but an unreachable server (no TLS offered, a TLS failure, an error the server sent over TLS), allow after the
 *  server refused the plain connection. */
export function tryNextTlsAttempt(mode: SslMode, error: unknown): boolean {
  const code = (error as { code?: string }).code ?? '';
  const serverError = /^[0-9A-Z]{5}$/.test(code);
  const network = ['ECONNREFUSED', 'ENOTFOUND', 'ETIMEDOUT', 'EHOSTUNREACH', 'EAI_AGAIN'].includes(code);
  if (mode === 'prefer') return !network;
  if (mode === 'allow') return serverError;
  return false;
}
