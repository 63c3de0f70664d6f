// manifest.json: written last, it is what makes a backup exist, and all a restore needs to know.
import { z } from 'zod';
import { PgwardenError } from '../../domain/errors.js';
import { PGWARDEN_VERSION } from '../../config/version.js';
import type { Repository, WriteOptions } from '../storage/repository.js';

export const MANIFEST_FILE = 'manifest.json';
/** The objects' sha256 in `sha256sum` format: `sha256sum -c SHA256SUMS` verifies a downloaded backup with coreutils. */
export const CHECKSUMS_FILE = 'SHA256SUMS';

export function checksumsFile(objects: Array<{ name: string; sha256: string }>): Buffer {
  return Buffer.from(objects.map((o) => `${o.sha256}  ${o.name}\n`).join(''));
}

const StoredObjectEntry = z.object({
  name: z.string(), // file name inside the backup's folder
  // roles: a Supabase project's own roles (plain SQL); extras: what the user made on the platform's tables
  role: z.enum(['pre-data', 'data', 'post-data', 'base', 'wal', 'roles', 'extras']),
  format: z.string(), // "custom", "plain", "tar"
  rawBytes: z.number(), // before compression and encryption
  storedBytes: z.number(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  tables: z.array(z.string()).optional(), // tables whose data the object holds (data objects)
});
export type StoredObjectEntry = z.infer<typeof StoredObjectEntry>;

/** Who a data key is wrapped for (never a key itself): a passphrase by its salted fingerprint, a public key by its. */
const KeyRefEntry = z.union([
  z.object({ type: z.literal('passphrase'), fingerprint: z.string() }),
  z.object({ type: z.literal('openpgp'), fingerprint: z.string(), userId: z.string().optional() }),
]);

/** Backups made before envelope encryption (manifestVersion 1): objects encrypted with the passphrase itself. */
const PassphraseEncryption = z.object({ scheme: z.literal('openpgp-symmetric-aes256'), keyFingerprint: z.string() });
/** Envelope encryption (manifestVersion 2): objects encrypted with the backup's data key, wrapped in `dataKey`. */
const EnvelopeEncryption = z.object({
  scheme: z.literal('openpgp-envelope-v1'),
  dataKey: z.string(), // file name inside the backup's folder
  keys: z.array(KeyRefEntry), // who the data key is wrapped for (rekey updates it)
});
export type EnvelopeEncryption = z.infer<typeof EnvelopeEncryption>;

export const BackupManifest = z.object({
  manifestVersion: z.union([z.literal(1), z.literal(2)]),
  id: z.string(),
  database: z.string(),
  kind: z.string(),
  /** Pre-migration backups: the migration they were taken before. */
  migrationId: z.string().optional(),
  type: z.enum(['logical', 'base']),
  format: z.string(), // "pgwarden-logical-v1"
  tool: z.object({ name: z.literal('pgwarden'), version: z.string(), pgDump: z.string().optional() }),
  server: z.object({ version: z.string(), versionNum: z.number(), systemIdentifier: z.string() }),
  source: z.object({ name: z.string(), encoding: z.string(), collate: z.string(), ctype: z.string() }).optional(),
  startedAt: z.string(),
  finishedAt: z.string(),
  rawBytes: z.number(),
  storedBytes: z.number(),
  compression: z.object({ algorithm: z.string(), level: z.number() }),
  encryption: z.union([PassphraseEncryption, EnvelopeEncryption]),
  objects: z.array(StoredObjectEntry),
  /** Rows per table as dumped (counted in the stream), keyed by qualified name. */
  tables: z.record(z.string(), z.number()),
  /** Each table's size on the server when it was dumped (pg_table_size: heap and TOAST), keyed as `tables`. */
  tableBytes: z.record(z.string(), z.number()).optional(),
  temporal: z.object({ namespace: z.string(), workflowId: z.string(), runId: z.string() }).optional(),
  /** Where a managed database's backup came from: the Neon branch (and the instant it holds), the Supabase scope. */
  provider: z
    .object({
      name: z.enum(['neon', 'supabase']),
      projectId: z.string().optional(),
      branchId: z.string().optional(),
      branchName: z.string().optional(),
      parentBranchId: z.string().optional(),
      parentLsn: z.string().optional(),
      parentTimestamp: z.string().optional(),
      branchCreatedAt: z.string().optional(),
      excludedSchemas: z.array(z.string()).optional(),
      excludedTables: z.array(z.string()).optional(),
    })
    .optional(),
  /** Extensions the database had: a restore onto a managed server checks it may create them before it starts. */
  extensions: z.array(z.object({ name: z.string(), schema: z.string(), version: z.string() })).optional(),
  base: z
    .object({
      startLsn: z.string(),
      stopLsn: z.string(),
      timeline: z.number(),
      startWal: z.string(),
      stopWal: z.string(),
      startTime: z.string(),
      stopTime: z.string(),
    })
    .optional(),
});
export type BackupManifest = z.infer<typeof BackupManifest>;

/** "<database>/<type>/<backupId>/": where a backup's objects live in a repository. */
export function backupFolder(database: string, type: 'logical' | 'base', backupId: string): string {
  return `${database}/${type}/${backupId}/`;
}

/**
 * The newest manifest format this pgwarden reads, and the one it writes (2: envelope encryption); a newer one was
 * written by a newer pgwarden. Every earlier format stays readable.
 */
export const MANIFEST_VERSION = 2;

/** A manifest that exists but cannot be used: not JSON, not the format, or a format newer than this pgwarden's. */
export class UnusableManifestError extends PgwardenError {
  constructor(
    readonly folder: string,
    /** Written by a newer pgwarden: nothing is wrong with it, this one is too old to read it. */
    readonly newerFormat: boolean,
    message: string,
    cause?: unknown,
  ) {
    super(newerFormat ? 'Refused' : 'Integrity', message, cause === undefined ? {} : { cause });
  }
}

export async function readManifest(repo: Repository, folder: string): Promise<BackupManifest | undefined> {
  const bytes = await repo.getBytes(`${folder}${MANIFEST_FILE}`);
  if (!bytes) return undefined;
  const where = `${folder}${MANIFEST_FILE} in repository "${repo.name}"`;
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString('utf8'));
  } catch (error) {
    throw new UnusableManifestError(folder, false, `${where} is not valid JSON: the backup cannot be trusted.`, error);
  }
  const version = (json as { manifestVersion?: unknown } | null)?.manifestVersion;
  if (typeof version === 'number' && version > MANIFEST_VERSION) {
    const tool = (json as { tool?: { version?: unknown } }).tool?.version;
    throw new UnusableManifestError(
      folder,
      true,
      `${where} was written by a newer pgwarden${typeof tool === 'string' ? ` (${tool})` : ''} in manifest format ${version}; ` +
        `this pgwarden (${PGWARDEN_VERSION}) reads format ${MANIFEST_VERSION}: upgrade pgwarden to use this backup.`,
    );
  }
  const parsed = BackupManifest.safeParse(json);
  if (!parsed.success) {
    throw new UnusableManifestError(
      folder,
      false,
      `${where} does not match the manifest format (${parsed.error.issues[0]?.path.join('.')}: ${parsed.error.issues[0]?.message}): the backup cannot be trusted.`,
    );
  }
  return parsed.data;
}

export async function writeManifest(repo: Repository, folder: string, manifest: BackupManifest, options: WriteOptions = {}): Promise<void> {
  await repo.putBytes(`${folder}${MANIFEST_FILE}`, Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`), options);
}
