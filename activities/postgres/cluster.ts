// A PostgreSQL cluster in a directory of ours: created with initdb or from a base backup, started on a free
// port, stopped. As root it runs as an unprivileged OS user, because PostgreSQL refuses to run as root.
import { appendFileSync, chownSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { execa } from 'execa';
import { PgwardenError } from '../../domain/errors.js';
import { childEnvironment } from '../process-environment.js';

export interface OsUser {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

/** Users already looked up by this process: a user's uid, gid and home do not change while it runs. */
const knownUsers = new Map<string, OsUser>();

/**
 * The OS user that clusters run as: ourselves, or `name` (created if missing) when we are root. One `getent passwd`
 * (which asks NSS, as `id` does) per user and process: a fork of a worker's process is not cheap.
 */
export async function clusterUser(name: string): Promise<OsUser | undefined> {
  if (process.getuid?.() !== 0) return undefined;
  const known = knownUsers.get(name);
  if (known) return known;
  const plain = { env: childEnvironment(), extendEnv: false } as const;
  let entry = await execa('getent', ['passwd', name], { ...plain, reject: false });
  if (entry.exitCode !== 0) {
    const made = await execa('useradd', ['--system', '--create-home', '--shell', '/bin/bash', name], { ...plain, reject: false });
    if (made.exitCode !== 0 && !/already exists/.test(made.stderr)) {
      throw new PgwardenError('Config', `PostgreSQL cannot run as root and OS user "${name}" could not be created: ${made.stderr.trim()}. Create it (useradd --system ${name}).`);
    }
    entry = await execa('getent', ['passwd', name], plain);
  }
  // name:password:uid:gid:gecos:home:shell
  const [, , uid, gid, , home] = entry.stdout.trim().split('\n')[0]!.split(':');
  const user = { name, uid: Number(uid), gid: Number(gid), home: home || '/tmp' };
  if (!Number.isInteger(user.uid) || !Number.isInteger(user.gid)) throw new PgwardenError('Config', `OS user "${name}": getent passwd answered "${entry.stdout.trim()}", which has no uid and gid.`);
  knownUsers.set(name, user);
  return user;
}

/** A TCP port nobody listens on right now. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/** Whether nothing listens on `port` (127.0.0.1) right now. */
export async function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

export interface ClusterOptions {
  dataDir: string;
  binDir: string; // the server's bin directory (initdb, pg_ctl, postgres): must match the data's major version
  port: number;
  user?: OsUser;
  logFile?: string;
}

export class LocalCluster {
  constructor(readonly options: ClusterOptions) {}

  get port(): number {
    return this.options.port;
  }

  get dataDir(): string {
    return this.options.dataDir;
  }

  get logFile(): string {
    return this.options.logFile ?? join(this.options.dataDir, 'pgwarden-server.log');
  }

  /**
   * Runs a server binary as the cluster's user, with `env` and what any tool needs, nothing else of ours. As root
   * through runuser, which passes its environment on: a secret in `env` never appears on a command line.
   */
  async run(tool: string, args: string[], options: { env?: Record<string, string>; reject?: boolean } = {}) {
    const command = join(this.options.binDir, tool);
    const user = this.options.user;
    const env = childEnvironment({ ...options.env, LC_ALL: 'C.UTF-8', LANG: 'C.UTF-8' });
    const common = { env, extendEnv: false, reject: options.reject ?? true, stdin: 'ignore' } as const;
    if (!user) return execa(command, args, common);
    return execa('runuser', ['-u', user.name, '--', command, ...args], { ...common, cwd: '/' });
  }

  /** Hands `path` (recursively) to the cluster's user, so the server may read and write it. */
  own(path: string): void {
    const user = this.options.user;
    if (!user) return;
    const walk = (p: string) => {
      chownSync(p, user.uid, user.gid);
      if (!existsSync(p)) return;
      try {
        for (const entry of readdirSync(p, { withFileTypes: true })) {
          const child = join(p, entry.name);
          if (entry.isDirectory()) walk(child);
          else chownSync(child, user.uid, user.gid);
        }
      } catch {
        /* a file, not a directory */
      }
    };
    walk(path);
  }

  /** initdb with scram passwords; the superuser is `superuser` with `password`; then our settings (configureNew). */
  async init(superuser: string, password: string, extraConf: string[] = []): Promise<void> {
    await this.initdb(superuser, password);
    this.configureNew(extraConf);
  }

  /** initdb alone: a data directory with its defaults, the superuser `superuser` with `password` (scram). */
  async initdb(superuser: string, password: string): Promise<void> {
    mkdirSync(this.options.dataDir, { recursive: true, mode: 0o700 });
    const pwfile = join(this.options.dataDir, '..', `.pwfile-${this.options.port}`);
    writeFileSync(pwfile, `${password}\n`, { mode: 0o600 });
    this.own(this.options.dataDir);
    this.own(pwfile);
    try {
      await this.run('initdb', ['-D', this.options.dataDir, '-U', superuser, `--pwfile=${pwfile}`, '--auth=scram-sha-256', '--encoding=UTF8', '--locale=C.UTF-8', '--no-instructions']);
    } finally {
      rmSync(pwfile, { force: true });
    }
  }

  /** The settings a new cluster of ours starts with: its port, local connections only, its socket in its data directory. */
  configureNew(extraConf: string[] = []): void {
    this.configure([
      `port = ${this.options.port}`,
      `listen_addresses = '127.0.0.1'`,
      `unix_socket_directories = '${this.options.dataDir}'`,
      'fsync = on',
      ...extraConf,
    ]);
  }

  /** Appends settings to postgresql.auto.conf-style include: the last setting wins. */
  configure(lines: string[]): void {
    const conf = join(this.options.dataDir, 'postgresql.conf');
    appendFileSync(conf, `\n# pgwarden\n${lines.join('\n')}\n`);
    this.own(conf);
  }

  /** Starts the server and waits until it accepts connections; `env` reaches the postmaster (and archive/restore commands). */
  async start(timeoutSeconds = 600, env: Record<string, string> = {}): Promise<void> {
    const result = await this.run('pg_ctl', ['-D', this.options.dataDir, '-l', this.logFile, '-w', '-t', String(timeoutSeconds), '-o', `-p ${this.options.port}`, 'start'], { reject: false, env });
    if (result.exitCode !== 0) {
      const tail = existsSync(this.logFile) ? readFileSync(this.logFile, 'utf8').trimEnd().split('\n').slice(-20).join('\n') : '';
      throw new PgwardenError('Failed', `PostgreSQL in ${this.options.dataDir} did not start on port ${this.options.port}:\n${result.stderr || result.stdout}\n${tail}`);
    }
  }

  /** pg_ctl status: a postmaster.pid left by a crash does not count as running. */
  async running(): Promise<boolean> {
    if (!existsSync(join(this.options.dataDir, 'postmaster.pid'))) return false;
    return (await this.run('pg_ctl', ['-D', this.options.dataDir, 'status'], { reject: false })).exitCode === 0;
  }

  async stop(mode: 'fast' | 'immediate' = 'fast'): Promise<void> {
    if (!existsSync(join(this.options.dataDir, 'postmaster.pid'))) return;
    await this.run('pg_ctl', ['-D', this.options.dataDir, '-m', mode, '-w', 'stop'], { reject: false });
  }

  url(user: string, password: string, database: string): string {
    return `postgresql://${encodeURIComponent(user)}:${encodeURIComponent(password)}@127.0.0.1:${this.options.port}/${encodeURIComponent(database)}`;
  }
}
