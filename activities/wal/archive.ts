// The WAL archive of one cluster in a repository: push (archive_command) and fetch (restore_command) of single
// files, sealed like backups, with the checks that keep two clusters' WAL from ever mixing.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { PgwardenError } from '../../domain/errors.js';
import type { Repository } from '../storage/repository.js';
import { DATA_KEY_META, type WalKeys } from '../keys/wal-keys.js';
import type { CompressionSettings } from '../pipeline/compress.js';
import { sealBuffer, unsealBuffer } from '../pipeline/seal.js';
import { DEFAULT_SEGMENT_SIZE, parseWalFileName, readSegmentHeader } from './names.js';
import { releaseLock, waitForLock } from './spool.js';

/** Written by the first push: the cluster this archive belongs to. */
export interface ArchiveIdentity {
  systemIdentifier: string;
  walMagic: number; // XLOG_PAGE_MAGIC of the WAL format (one per major version)
  pgMajor?: number;
  segmentSize: number;
  createdAt: string;
}

export function walFolder(database: string): string {
  return `${database}/wal/`;
}

export function walKey(database: string, name: string): string {
  return `${database}/wal/${name}.zst.gpg`;
}

const IDENTITY_FILE = 'archive.json';

/** The WAL file name an archive key holds, or undefined for other objects (archive.json). */
export function walNameOfKey(database: string, key: string): string | undefined {
  const name = key.slice(walFolder(database).length).replace(/\.zst\.gpg$/, '');
  return parseWalFileName(name) ? name : undefined;
}

export async function readArchiveIdentity(repo: Repository, database: string): Promise<ArchiveIdentity | undefined> {
  const bytes = await repo.getBytes(`${walFolder(database)}${IDENTITY_FILE}`);
  return bytes ? (JSON.parse(bytes.toString('utf8')) as ArchiveIdentity) : undefined;
}

/** Who is pushing: from the segment's own header, else from the data directory archive_command runs in. */
export function localIdentity(data: Buffer, dataDirectory: string): Omit<ArchiveIdentity, 'createdAt'> | undefined {
  const pgMajor = readPgMajor(dataDirectory);
  const header = readSegmentHeader(data);
  if (header) {
    return { systemIdentifier: header.systemIdentifier, walMagic: header.magic, segmentSize: header.segmentSize, ...(pgMajor ? { pgMajor } : {}) };
  }
  const control = join(dataDirectory, 'global', 'pg_control');
  if (!existsSync(control)) return undefined;
  const systemIdentifier = readFileSync(control).readBigUInt64LE(0).toString();
  return { systemIdentifier, walMagic: 0, segmentSize: 0, ...(pgMajor ? { pgMajor } : {}) };
}

function readPgMajor(dataDirectory: string): number | undefined {
  try {
    return Number(readFileSync(join(dataDirectory, 'PG_VERSION'), 'utf8').trim()) || undefined;
  } catch {
    return undefined;
  }
}

function describeIdentity(id: Pick<ArchiveIdentity, 'systemIdentifier' | 'pgMajor' | 'walMagic'>): string {
  return `cluster ${id.systemIdentifier}${id.pgMajor ? ` (PostgreSQL ${id.pgMajor})` : id.walMagic ? ` (WAL format 0x${id.walMagic.toString(16)})` : ''}`;
}

/**
 * Refuses WAL of another cluster or another major version; the first push records the identity.
 * `cache` is a local file that remembers a confirmed identity, to save a request per segment.
 */
export async function checkArchiveIdentity(
  repo: Repository,
  database: string,
  local: Omit<ArchiveIdentity, 'createdAt'> | undefined,
  cache?: string,
): Promise<void> {
  if (!local) return; // a history file pushed from outside a data directory: nothing to compare
  if (cache && existsSync(cache)) {
    // A cache that cannot be read (another wal-push writing it) is asked of the archive again, never a failure.
    const known = ((): Partial<ArchiveIdentity> => {
      try {
        return JSON.parse(readFileSync(cache, 'utf8')) as ArchiveIdentity;
      } catch {
        return {};
      }
    })();
    if (known.systemIdentifier === local.systemIdentifier && (!local.walMagic || known.walMagic === local.walMagic)) return;
  }
  let archive = await readArchiveIdentity(repo, database);
  if (!archive && local.walMagic) {
    // One writer per spool: a foreground wal-push and the background pusher (or its parallel pushes) all reach the
    // first segment at once, and two create-only PUTs at the same moment are not atomic on every S3 server
    // (versitygw mixed one's bytes with the other's checksum, and every later read of the identity failed).
    const lock = cache ? `${cache}.lock` : undefined;
    const locked = lock ? await waitForLock(lock, 15_000) : false;
    try {
      archive = await readArchiveIdentity(repo, database); // written by the one that held the lock
      if (!archive) {
        const identity: ArchiveIdentity = { ...local, createdAt: new Date().toISOString() };
        await repo.putBytes(`${walFolder(database)}${IDENTITY_FILE}`, Buffer.from(`${JSON.stringify(identity, null, 2)}\n`), { ifAbsent: true });
        archive = await readArchiveIdentity(repo, database);
      }
    } finally {
      if (lock && locked) releaseLock(lock);
    }
  }
  if (!archive) return;
  const where = `Repository "${repo.name}" (${repo.location}) holds the WAL archive of "${database}" from ${describeIdentity(archive)}`;
  if (archive.systemIdentifier !== local.systemIdentifier) {
    throw new PgwardenError(
      'Refused',
      `${where}; this WAL comes from ${describeIdentity(local)}: refusing to mix two clusters' WAL. ` +
        'Give this cluster its own entry under databases: (its own archive), or, if the old cluster is gone for good, move its archive away first.',
    );
  }
  if (local.walMagic && archive.walMagic !== local.walMagic) {
    throw new PgwardenError(
      'Refused',
      `${where}; this WAL has another format (${describeIdentity(local)}): after a major upgrade start a new archive (a new database entry) and take a base backup.`,
    );
  }
  // Written whole, then renamed: the background pusher and a foreground wal-push read it at the same time.
  if (cache) {
    const temp = `${cache}.${process.pid}.tmp`;
    await writeFile(temp, JSON.stringify(archive))
      .then(() => rename(temp, cache))
      .catch(() => undefined);
  }
}

export type PushOutcome = 'archived' | 'already archived';

/**
 * Archives the WAL file at `path` (as archive_command's %p), encrypted with the day's data key of `keys`.
 * Identical re-pushes succeed; different content is refused.
 */
export async function pushWalFile(
  repo: Repository,
  database: string,
  path: string,
  settings: { compression: CompressionSettings },
  keys: WalKeys,
  options: {
    dataDirectory?: string;
    identityCache?: string;
    retainUntil?: (ms: number) => Date;
    /** The file's bytes, when the caller started reading them already (wal-push reads while the S3 client loads). */
    contents?: Promise<Buffer>;
  } = {},
): Promise<PushOutcome> {
  const name = basename(path);
  const parsed = parseWalFileName(name);
  if (!parsed) throw new PgwardenError('Usage', `"${name}" is not a WAL file name PostgreSQL archives (segment, .partial, .backup or .history).`);
  const closedAtMs = Date.now();
  const closedAt = new Date(closedAtMs).toISOString(); // the file is complete now: everything before this moment is in it or earlier
  const data = await (options.contents ?? readFile(path));
  if ((parsed.kind === 'segment' || parsed.kind === 'partial') && data.length % 8192 !== 0) {
    throw new PgwardenError('Failed', `${path} has ${data.length} bytes, not whole WAL pages: refusing to archive a damaged segment.`);
  }
  const dataDirectory = options.dataDirectory ?? dirname(dirname(join(process.cwd(), path)));
  await checkArchiveIdentity(repo, database, localIdentity(data, dataDirectory), options.identityCache);

  // zstd and gpg start first: they work on other cores while this process hashes the plain bytes.
  const dataKey = await keys.forPush(closedAtMs);
  const sealing = sealBuffer(data, { compression: settings.compression, passphrase: dataKey.secret, dataKey: true });
  const sha256 = createHash('sha256').update(data).digest('hex');
  const key = walKey(database, name);
  const compare = async (): Promise<PushOutcome | undefined> => {
    const existing = await repo.head(key);
    if (!existing) return undefined;
    if (existing.metadata?.['plain-sha256'] === sha256) return 'already archived';
    throw new PgwardenError(
      'Refused',
      `WAL file ${name} is already archived in repository "${repo.name}" with different content (archived sha256 ${existing.metadata?.['plain-sha256']?.slice(0, 16) ?? 'unknown'}…, ` +
        `this one ${sha256.slice(0, 16)}…): not overwriting it. Two clusters may be archiving into one place, or a restored cluster reuses a timeline; find out which before touching the archive.`,
    );
  };
  // No look before the write: the create-only PUT decides (one round trip where the server honours If-None-Match,
  // else the repository looks first), and an existing object is compared only when there is one.
  const stored = await sealing;
  const written = await repo.putBytes(key, stored, {
    ifAbsent: true,
    metadata: {
      'plain-sha256': sha256,
      'plain-size': String(data.length),
      'stored-sha256': createHash('sha256').update(stored).digest('hex'),
      'closed-at': closedAt,
      [DATA_KEY_META]: dataKey.id,
      // A backup history file's text (WAL range, label: nothing secret) readable without the private key: a worker
      // with public keys only learns from it which WAL its base backup needs (basebackup/wait.ts).
      ...(parsed.kind === 'backup' && data.length <= 1024 ? { [BACKUP_HISTORY_META]: encodeURIComponent(data.toString('utf8')) } : {}),
    },
    ...(options.retainUntil ? { retainUntil: options.retainUntil(closedAtMs) } : {}),
  });
  if (written) return 'archived';
  const existing = await compare();
  if (existing) return existing;
  // Refused as existing, yet not there: never report a segment archived that the repository does not hold.
  throw new PgwardenError(
    'Failed',
    `Repository "${repo.name}" refused to create ${key} as already existing, but has no such object: not archived. PostgreSQL will try again; if this repeats, check the storage server.`,
  );
}

/** Object metadata of an archived backup history file: its text, URI-encoded (S3 metadata is ASCII). */
export const BACKUP_HISTORY_META = 'backup-history';

/** Fetches and verifies archived file `name` into `destination` (restore_command's %p); false if not archived. */
export async function fetchWalFile(repo: Repository, database: string, name: string, destination: string, keys: WalKeys): Promise<boolean> {
  const plain = await fetchWalBytes(repo, database, name, keys);
  if (!plain) return false;
  const temp = `${destination}.pgwarden-${process.pid}`;
  await writeFile(temp, plain);
  await rename(temp, destination).catch(async (error: unknown) => {
    await rm(temp, { force: true });
    throw error;
  });
  return true;
}

/** The verified plain bytes of archived file `name`, or undefined if it is not archived. */
export async function fetchWalBytes(repo: Repository, database: string, name: string, keys: WalKeys): Promise<Buffer | undefined> {
  const key = walKey(database, name);
  const object = await repo.getBytesWithMetadata(key);
  if (!object) return undefined;
  const corrupt = (what: string) =>
    new PgwardenError('Integrity', `Archived WAL file ${name} in repository "${repo.name}" is corrupt (${what}): recovery must not continue past it.`);
  const storedSha = object.metadata['stored-sha256'];
  if (storedSha && createHash('sha256').update(object.data).digest('hex') !== storedSha) throw corrupt('sha256 of the stored object differs');
  let plain: Buffer | undefined;
  // Its data key; WAL archived before envelope encryption names none and opens with a passphrase, current first.
  const secrets = await keys.forFetch(object.metadata[DATA_KEY_META]);
  for (const [i, { secret }] of secrets.entries()) {
    try {
      plain = await unsealBuffer(object.data, secret, key);
      break;
    } catch (error) {
      if (i < secrets.length - 1 && error instanceof PgwardenError && error.kind === 'Integrity' && /Cannot decrypt/.test(error.message)) continue;
      if (error instanceof PgwardenError) throw error;
      // A system call that failed here (not a pipe gpg or zstd closed on bad input) is this host's problem.
      const local = error as NodeJS.ErrnoException;
      if (local.syscall && local.code !== 'EPIPE') {
        throw new PgwardenError('Failed', `Archived WAL file ${name} could not be opened on this host (${local.message}): the archive is not in question.`, { cause: error });
      }
      throw corrupt((error as Error).message);
    }
  }
  if (!plain) throw corrupt('it does not decrypt');
  if (object.metadata['plain-sha256'] && createHash('sha256').update(plain).digest('hex') !== object.metadata['plain-sha256']) {
    throw corrupt('sha256 of the WAL differs from the one recorded when it was archived');
  }
  const parsed = parseWalFileName(name);
  if (parsed?.kind === 'segment' && plain.length !== (readSegmentHeader(plain)?.segmentSize ?? DEFAULT_SEGMENT_SIZE)) {
    throw corrupt(`${plain.length} bytes instead of a whole segment`);
  }
  return plain;
}
