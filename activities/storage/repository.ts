// The one interface every storage driver implements; callers never see S3 or the filesystem directly.
import type { Readable } from 'node:stream';

export interface StoredObject {
  key: string; // relative to the repository's root (its prefix)
  size: number;
  modified?: Date; // when the object was written
  /** Small string facts stored with the object (S3 user metadata): checksums, origin. Only from head(). */
  metadata?: Record<string, string>;
  /** S3 Object Lock: nobody can delete or overwrite this version before then. Only from head(). */
  retainUntil?: Date;
}

/** Where the bucket has S3 Object Lock, a write may carry the date before which the object cannot be deleted. */
export interface WriteOptions {
  retainUntil?: Date;
}

export interface DeleteOutcome {
  /** Objects that Object Lock kept: still there until their retention date. */
  locked: string[];
}

export interface Repository {
  /** The name from pgwarden.yaml. */
  readonly name: string;
  /** Where it is, for messages: "s3://bucket/prefix at https://endpoint" or "/var/backups/pgwarden". */
  readonly location: string;
  /** Fails with a message that says what to fix when the repository cannot be read and written. */
  check(): Promise<void>;
  /**
   * Streams `body` into `key`. The object appears whole or not at all: a failed write leaves no object
   * and no unfinished multipart upload behind. An existing object is replaced.
   */
  put(key: string, body: Readable, signal?: AbortSignal, options?: WriteOptions): Promise<void>;
  /**
   * Small objects (manifests, WAL segments). With ifAbsent, an existing object is left alone and false returned.
   * Metadata keys are lower-case letters, digits and dashes; values short ASCII.
   */
  putBytes(key: string, data: Buffer, options?: { ifAbsent?: boolean; metadata?: Record<string, string> } & WriteOptions): Promise<boolean>;
  /** Throws a NotFound PgwardenError if the object does not exist. */
  get(key: string, signal?: AbortSignal): Promise<Readable>;
  getBytes(key: string): Promise<Buffer | undefined>;
  /** A small object with the metadata stored with it; undefined if it does not exist. */
  getBytesWithMetadata(key: string): Promise<{ data: Buffer; metadata: Record<string, string> } | undefined>;
  head(key: string): Promise<StoredObject | undefined>;
  /** Objects under `prefix`, in key order. */
  list(prefix: string): AsyncIterable<StoredObject>;
  /** The next path level under `prefix` ("a/b/" -> ["a/b/c/", …]), like `ls`. */
  listFolders(prefix: string): Promise<string[]>;
  /** Removes the objects (in a versioned bucket every version of them); what Object Lock keeps is returned, not thrown. */
  delete(keys: string[]): Promise<DeleteOutcome>;
  /** Removes what failed writes under `prefix` left (multipart uploads, temp files); returns how many. */
  abortIncompleteWrites(prefix: string): Promise<number>;
}
