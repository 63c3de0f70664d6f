// Certificates for tests, made with openssl: a CA of the test's own and the server and client certificates it signs;
// and a TLS front for a plaintext server (the Temporal dev server serves no TLS of its own).
import { randomBytes } from 'node:crypto';
import { chownSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { connect as netConnect, type Server } from 'node:net';
import { join } from 'node:path';
import { createServer, type TLSSocket } from 'node:tls';
import { execa } from 'execa';

export interface TestCa {
  name: string;
  dir: string;
  crt: string; // PEM file
  key: string;
}

export interface TestCert {
  crt: string; // PEM files
  key: string;
}

async function openssl(args: string[], cwd: string): Promise<void> {
  await execa('openssl', args, { cwd });
}

/** A new CA (EC P-256, two days) in `dir`. */
export async function makeCa(dir: string, name: string): Promise<TestCa> {
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  const ca = { name, dir, crt: join(dir, `${name}.crt`), key: join(dir, `${name}.key`) };
  await openssl(
    ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', ca.key, '-out', ca.crt, '-days', '2', '-subj', `/CN=${name}`,
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'],
    dir,
  );
  return ca;
}

/** A certificate signed by `ca` for the given subject alternative names (DNS:…, IP:…), for a server or a client. */
export async function issue(ca: TestCa, name: string, altNames: string[], use: 'server' | 'client' = 'server'): Promise<TestCert> {
  const cert = { crt: join(ca.dir, `${name}.crt`), key: join(ca.dir, `${name}.key`) };
  const csr = join(ca.dir, `${name}.csr`);
  const ext = join(ca.dir, `${name}.ext`);
  writeFileSync(
    ext,
    [
      'basicConstraints=CA:FALSE',
      'keyUsage=critical,digitalSignature,keyEncipherment',
      `extendedKeyUsage=${use === 'server' ? 'serverAuth' : 'clientAuth'}`,
      ...(altNames.length > 0 ? [`subjectAltName=${altNames.join(',')}`] : []),
    ].join('\n'),
  );
  await openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', cert.key, '-out', csr, '-subj', `/CN=${name}`], ca.dir);
  // A random serial of its own: -CAcreateserial keeps one serial file per CA, and certificates issued side by side
  // (tls.test.ts issues three at once) read it while another openssl writes it ("Unable to load number").
  const serial = `0x${randomBytes(16).toString('hex').replace(/^[89a-f]/, '1')}`; // positive, as RFC 5280 asks
  await openssl(['x509', '-req', '-in', csr, '-CA', ca.crt, '-CAkey', ca.key, '-set_serial', serial, '-out', cert.crt, '-days', '2', '-extfile', ext], ca.dir);
  return cert;
}

/** Hands a key to the OS user a server runs as (PostgreSQL wants its key file its own, mode 0600). */
export function giveTo(user: { uid: number; gid: number } | undefined, ...files: string[]): void {
  if (!user) return;
  for (const file of files) chownSync(file, user.uid, user.gid);
}

export interface TlsFront {
  address: string; // 127.0.0.1:PORT
  /** Common names of the client certificates it accepted, one per connection. */
  clients: string[];
  close(): Promise<void>;
}

/**
 * TLS in front of a plaintext TCP server: terminates TLS (HTTP/2 by ALPN, as gRPC needs), requires a client
 * certificate signed by `clientCa` when given, and passes the bytes on.
 */
export async function tlsFront(target: string, server: TestCert, clientCa?: TestCa): Promise<TlsFront> {
  const [host, port] = [target.slice(0, target.lastIndexOf(':')), Number(target.slice(target.lastIndexOf(':') + 1))];
  const clients: string[] = [];
  const sockets = new Set<TLSSocket>();
  const front: Server = createServer(
    {
      key: readFileSync(server.key),
      cert: readFileSync(server.crt),
      ALPNProtocols: ['h2'],
      ...(clientCa ? { ca: readFileSync(clientCa.crt), requestCert: true, rejectUnauthorized: true } : {}),
    },
    (socket) => {
      sockets.add(socket);
      const peer = socket.getPeerCertificate();
      clients.push(typeof peer?.subject?.CN === 'string' ? peer.subject.CN : '');
      const upstream = netConnect(port, host === 'localhost' ? '127.0.0.1' : host);
      socket.pipe(upstream).pipe(socket);
      const close = () => {
        socket.destroy();
        upstream.destroy();
      };
      socket.on('error', close).on('close', () => {
        sockets.delete(socket);
        upstream.destroy();
      });
      upstream.on('error', close).on('close', () => socket.destroy());
    },
  );
  front.on('tlsClientError', () => undefined); // a client refused for its certificate: what some tests want
  await new Promise<void>((resolve) => front.listen(0, '127.0.0.1', resolve));
  const { port: frontPort } = front.address() as { port: number };
  return {
    address: `127.0.0.1:${frontPort}`,
    clients,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => front.close(() => resolve()));
    },
  };
}
