// A repository in a local (or mounted) directory: writes go to a temp file that is renamed when complete.
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, stat, writeFile, access, constants } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { PgwardenError } from '../../domain/errors.js';
import type { FsRepositorySettings } from '../../config/schema.js';
import type { DeleteOutcome, Repository, StoredObject, WriteOptions } from './repository.js';

const PARTIAL_MARK = '.pgwarden-partial-';
/** Object metadata lives beside the object in a small JSON file (S3 keeps it with the object). */
const META_SUFFIX = '.pgwarden-meta.json';

export class FsRepository implements Repository {
  readonly location: string;

  constructor(
    readonly name: string,
    private readonly settings: FsRepositorySettings,
  ) {
    this.location = settings.path;
  }

  private path(key: string): string {
    if (key.split('/').some((part) => part === '..')) throw new PgwardenError('Failed', `Refusing object key with "..": ${key}`);
    return join(this.settings.path, ...key.split('/'));
  }

  async check(): Promise<void> {
    try {
      await mkdir(this.settings.path, { recursive: true });
      await access(this.settings.path, constants.W_OK | constants.R_OK);
    } catch (error) {
      throw new PgwardenError(
        'Config',
        `Repository "${this.name}": cannot use directory ${this.settings.path} (${(error as Error).message}): create it and make it writable, or fix repositories.${this.name}.path.`,
      );
    }
  }

  // A directory has no Object Lock: retention dates are ignored.
  async put(key: string, body: Readable, signal?: AbortSignal, _options?: WriteOptions): Promise<void> {
    const target = this.path(key);
    await mkdir(dirname(target), { recursive: true });
    const temp = `${target}${PARTIAL_MARK}${randomBytes(4).toString('hex')}`;
    const file = createWriteStream(temp);
    try {
      await pipeline(body, file, { signal });
      await syncFile(temp);
      await rename(temp, target);
    } catch (error) {
      // pipeline() settles as soon as the body fails, before the file has even been created (its open may still
      // wait in libuv's thread pool): removed now, it would appear afterwards and stay. Remove it once closed.
      file.destroy();
      if (!file.closed) await new Promise<void>((resolve) => file.once('close', () => resolve()));
      await rm(temp, { force: true });
      throw error;
    }
  }

  async putBytes(key: string, data: Buffer, options: { ifAbsent?: boolean; metadata?: Record<string, string> } & WriteOptions = {}): Promise<boolean> {
    const target = this.path(key);
    await mkdir(dirname(target), { recursive: true });
    if (options.metadata) {
      // Metadata first: an object never appears without it (a stale file from a lost race is overwritten).
      const metaTemp = `${target}${META_SUFFIX}${PARTIAL_MARK}${randomBytes(4).toString('hex')}`;
      await writeFile(metaTemp, JSON.stringify(options.metadata));
      if (options.ifAbsent && (await this.head(key))) {
        await rm(metaTemp, { force: true });
        return false;
      }
      await rename(metaTemp, `${target}${META_SUFFIX}`);
    }
    if (options.ifAbsent) {
      try {
        await writeFile(target, data, { flag: 'wx' });
        await syncFile(target);
        return true;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
        throw error;
      }
    }
    const temp = `${target}${PARTIAL_MARK}${randomBytes(4).toString('hex')}`;
    await writeFile(temp, data);
    await syncFile(temp);
    await rename(temp, target);
    return true;
  }

  async get(key: string): Promise<Readable> {
    const path = this.path(key);
    try {
      await access(path, constants.R_OK);
    } catch {
      throw new PgwardenError('NotFound', `Object ${key} not found in repository "${this.name}" (${this.location}).`);
    }
    return createReadStream(path, { highWaterMark: 1 << 20 });
  }

  async getBytes(key: string): Promise<Buffer | undefined> {
    try {
      return await readFile(this.path(key));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
  }

  async getBytesWithMetadata(key: string): Promise<{ data: Buffer; metadata: Record<string, string> } | undefined> {
    const data = await this.getBytes(key);
    if (!data) return undefined;
    const meta = await readFile(`${this.path(key)}${META_SUFFIX}`, 'utf8').catch(() => '{}');
    return { data, metadata: JSON.parse(meta) as Record<string, string> };
  }

  async head(key: string): Promise<StoredObject | undefined> {
    try {
      const info = await stat(this.path(key));
      if (!info.isFile()) return undefined;
      const meta = await readFile(`${this.path(key)}${META_SUFFIX}`, 'utf8').catch(() => '{}');
      return { key, size: info.size, modified: info.mtime, metadata: JSON.parse(meta) as Record<string, string> };
    } catch {
      return undefined;
    }
  }

  async *list(prefix: string): AsyncIterable<StoredObject> {
    const folder = prefix.includes('/') ? prefix.slice(0, prefix.lastIndexOf('/')) : '';
    const files = await walk(folder ? this.path(folder) : this.settings.path);
    const keys = files
      .map((file) => relative(this.settings.path, file).split(sep).join('/'))
      .filter((key) => key.startsWith(prefix) && !key.includes(PARTIAL_MARK) && !key.endsWith(META_SUFFIX))
      .sort();
    for (const key of keys) {
      const info = await stat(this.path(key)).catch(() => undefined); // deleted meanwhile: skip
      if (info) yield { key, size: info.size, modified: info.mtime };
    }
  }

  async listFolders(prefix: string): Promise<string[]> {
    const dir = this.path(prefix.replace(/\/$/, ''));
    try {
      const entries = await readdir(dir, { withFileTypes: true });
      return entries
        .filter((entry) => entry.isDirectory())
        .map((entry) => `${prefix.replace(/\/?$/, '/')}${entry.name}/`.replace(/^\//, ''))
        .sort();
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
  }

  async delete(keys: string[]): Promise<DeleteOutcome> {
    for (const key of keys) {
      await rm(this.path(key), { force: true });
      await rm(`${this.path(key)}${META_SUFFIX}`, { force: true });
    }
    return { locked: [] };
  }

  async abortIncompleteWrites(prefix: string, options: { olderThan?: Date } = {}): Promise<number> {
    const files = await walk(this.path(prefix.replace(/\/$/, '')));
    let removed = 0;
    for (const file of files.filter((f) => f.includes(PARTIAL_MARK))) {
      if (options.olderThan) {
        const info = await stat(file).catch(() => undefined);
        if (!info || info.mtime >= options.olderThan) continue; // gone meanwhile, or a write that may still run
      }
      await rm(file, { force: true });
      removed += 1;
    }
    return removed;
  }
}

async function syncFile(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function walk(dir: string): Promise<string[]> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT' || (error as NodeJS.ErrnoException).code === 'ENOTDIR') return [];
    throw error;
  }
  const out: string[] = [];
  for (const entry of entries) {
    const full = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await walk(full)));
    else if (entry.isFile()) out.push(full);
  }
  return out;
}
