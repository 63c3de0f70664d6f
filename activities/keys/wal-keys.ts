// Data keys of the WAL archive: one per day and pushing host, stored in the archive as <database>/wal/keys/<id>.asc
// (wrapped like a backup's), named in each WAL object's metadata (data-key). wal-push and wal-fetch run once per
// segment, so a key is kept in the host's private spool after its first use (the day's key for pushing, opened
// keys for fetching): a segment costs no key derivation, and a worker with public keys only can archive (it never
// needs to open a key it made itself).
import { oncePer } from '../once.js';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PgwardenError } from '../../domain/errors.js';
import type { Config } from '../../config/schema.js';
import { passphraseSource, resolveSecret } from '../../config/secrets.js';
import { walKeyRetainUntil } from '../storage/lock.js';
import type { Repository } from '../storage/repository.js';
import { newDataKey, openDataKey, storeDataKey } from './data-key.js';
import { DataKeyOpener, loadKeyring, noKeyError } from './keyring.js';

/** WAL object metadata: the id of the data key that encrypts it (absent on WAL archived before envelopes). */
export const DATA_KEY_META = 'data-key';

export function walKeysFolder(database: string): string {
  return `${database}/wal/keys/`;
}

export function walKeyObject(database: string, id: string): string {
  return `${walKeysFolder(database)}${id}.asc`;
}

/** "20261125-3fa9c1d2": the UTC day it encrypts, and a random part (each host makes its own). */
export function walKeyId(nowMs: number): string {
  return `${new Date(nowMs).toISOString().slice(0, 10).replace(/-/g, '')}-${randomBytes(4).toString('hex')}`;
}

/** The UTC day (YYYYMMDD) a WAL key id was made for. */
export function walKeyDay(id: string): string {
  return id.slice(0, 8);
}

interface PushKeyCache {
  id: string;
  secret: string;
  day: string;
  /** Which keys the cached key was wrapped for (salted digest of the configured ones): a rotation makes a new key. */
  wrap: string;
  salt: string;
  /** The repository the key was stored in (repository.location): another archive has not got it. */
  location?: string;
}

/** What a WAL object is encrypted with: a data key (cheap S2K) or, before envelopes, a passphrase. */
export interface WalSecret {
  secret: string;
  dataKey: boolean;
}

export class WalKeys {
  private pushing: Promise<{ id: string; secret: string }> | undefined;
  /** Each data key opened once per process (one key per day and host, used by many segments). */
  private readonly opened = oncePer((id: string) => this.openKey(id), new Map<string, Promise<string>>());
  private opener: DataKeyOpener | undefined;

  /** `cacheDir`: a private directory (the spool) that keeps the day's push key and keys placed for a restore. */
  constructor(
    private readonly config: Config,
    private readonly repo: Repository,
    private readonly database: string,
    private readonly cacheDir?: string,
  ) {}

  /** The data key for WAL archived now: this host's key of the day, made (and stored in the archive) on first use. */
  forPush(nowMs = Date.now()): Promise<{ id: string; secret: string }> {
    const day = new Date(nowMs).toISOString().slice(0, 10).replace(/-/g, '');
    if (this.pushing) {
      return this.pushing.then((key) => (walKeyDay(key.id) === day ? key : ((this.pushing = undefined), this.forPush(nowMs))));
    }
    this.pushing = this.pushKey(day, nowMs);
    this.pushing.catch(() => (this.pushing = undefined));
    return this.pushing;
  }

  private async pushKey(day: string, nowMs: number): Promise<{ id: string; secret: string }> {
    const file = this.cacheDir ? join(this.cacheDir, 'keys', 'push.json') : undefined;
    if (file && existsSync(file)) {
      try {
        const cached = JSON.parse(readFileSync(file, 'utf8')) as PushKeyCache;
        if (cached.day === day && cached.location === this.repo.location && cached.wrap === this.wrapDigest(cached.salt)) return { id: cached.id, secret: cached.secret };
      } catch {
        /* unreadable: make a new key */
      }
    }
    const keyring = await loadKeyring(this.config);
    const id = walKeyId(nowMs);
    const secret = newDataKey();
    // In the archive before any segment it encrypts; locked (Object Lock) as long as the WAL of its day.
    await storeDataKey(this.repo, walKeyObject(this.database, id), secret, keyring, { retainUntil: walKeyRetainUntil(this.config, this.database, nowMs), ifAbsent: true });
    if (file) {
      const salt = randomBytes(16).toString('hex');
      const cache: PushKeyCache = { id, secret, day, wrap: this.wrapDigest(salt), salt, location: this.repo.location };
      mkdirSync(join(this.cacheDir!, 'keys'), { recursive: true, mode: 0o700 });
      const temp = `${file}.${process.pid}.tmp`;
      writeFileSync(temp, JSON.stringify(cache), { mode: 0o600 });
      renameSync(temp, file);
    }
    return { id, secret };
  }

  /** A digest of the configured wrapping keys as they are now, without gpg (it runs once per segment). */
  private wrapDigest(salt: string): string {
    const e = this.config.encryption;
    const source = passphraseSource(e);
    const hash = createHash('sha256').update(salt);
    if (source) hash.update(`p\u0000${resolveSecret(source, 'the backup encryption passphrase')}\u0000`);
    for (const recipient of e.recipients) hash.update(`k\u0000${resolveSecret(recipient, 'a public key of encryption.recipients')}\u0000`);
    return hash.digest('hex');
  }

  /**
   * What opens a WAL object: its data key (`id`), or, for WAL archived before envelope encryption (no id), the
   * configured passphrases, current first.
   */
  async forFetch(id: string | undefined): Promise<WalSecret[]> {
    if (id === undefined) {
      const keyring = await loadKeyring(this.config);
      const passphrases = keyring.openers.flatMap((o) => (o.kind === 'passphrase' ? [{ secret: o.passphrase, dataKey: false }] : []));
      if (passphrases.length === 0) throw noKeyError(keyring, [], `WAL archived before envelope encryption (encrypted with a passphrase itself) of "${this.database}"`);
      return passphrases;
    }
    if (!/^\d{8}-[0-9a-f]{8}$/.test(id)) throw new PgwardenError('Integrity', `A WAL object of "${this.database}" names data key "${id}", which is not a key id: the archive is damaged.`);
    return [{ secret: await this.opened(id), dataKey: true }];
  }

  private async openKey(id: string): Promise<string> {
    const placed = this.cacheDir ? join(this.cacheDir, 'keys', id) : undefined;
    if (placed && existsSync(placed)) return readFileSync(placed, 'utf8').trim();
    this.opener ??= new DataKeyOpener(await loadKeyring(this.config));
    const secret = await openDataKey(this.repo, walKeyObject(this.database, id), this.opener);
    // restore_command starts a process per segment: the next ones find the key opened (private spool, 0600).
    if (placed) this.keep(placed, secret);
    return secret;
  }

  private keep(file: string, secret: string): void {
    mkdirSync(join(this.cacheDir!, 'keys'), { recursive: true, mode: 0o700 });
    const temp = `${file}.${process.pid}.tmp`;
    writeFileSync(temp, secret, { mode: 0o600 });
    renameSync(temp, file);
  }

  /** Opens the keys of days from `fromDay` (YYYYMMDD) on and leaves them in `dir`/keys for another process (restore_command). */
  async placeKeys(fromDay: string, dir: string): Promise<number> {
    mkdirSync(join(dir, 'keys'), { recursive: true, mode: 0o700 });
    let placed = 0;
    for await (const object of this.repo.list(walKeysFolder(this.database))) {
      const id = object.key.slice(walKeysFolder(this.database).length).replace(/\.asc$/, '');
      if (!/^\d{8}-[0-9a-f]{8}$/.test(id) || walKeyDay(id) < fromDay) continue;
      const [{ secret }] = (await this.forFetch(id)) as [WalSecret];
      const file = join(dir, 'keys', id);
      if (!existsSync(file)) writeFileSync(file, secret, { mode: 0o600 });
      placed += 1;
    }
    return placed;
  }

  /** Removes the private keys this object imported into GnuPG homes of their own. */
  async close(): Promise<void> {
    await this.opener?.close();
    this.opener = undefined;
  }
}
