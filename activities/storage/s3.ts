// A repository in an S3-compatible bucket (AWS S3, Backblaze B2, versitygw, MinIO …).
import {
  AbortMultipartUploadCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetBucketVersioningCommand,
  GetObjectCommand,
  GetObjectLockConfigurationCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectVersionsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { PassThrough, type Readable } from 'node:stream';
import { PgwardenError } from '../../domain/errors.js';
import type { S3RepositorySettings } from '../../config/schema.js';
import { readBucketFacts, recordBucketFacts, utcDay } from './bucket-facts.js';
import type { DeleteOutcome, Repository, StoredObject, WriteOptions } from './repository.js';
import { s3Client, type S3ClientOptions } from './s3-client.js';
import { uploadStream } from './s3-upload.js';

/** At the repository's root: written (empty) once, to learn whether the server honours If-None-Match on PUT. */
export const CONDITIONAL_WRITE_PROBE = '.pgwarden-conditional-write-probe';

export class S3Repository implements Repository {
  readonly location: string;
  private readonly client: S3Client;
  private readonly root: string; // "prefix/" or ""
  private lockEnabled: Promise<boolean> | undefined; // the bucket has S3 Object Lock
  private versioned: Promise<boolean> | undefined; // the bucket keeps versions (always so with Object Lock)
  private conditional: Promise<boolean> | undefined; // a PUT with If-None-Match: * alone is create-only
  private factsFile: string | undefined; // where per-segment commands keep what they learned (rememberIn)

  constructor(
    readonly name: string,
    private readonly settings: S3RepositorySettings,
    options: S3ClientOptions = {},
  ) {
    this.root = settings.prefix ? `${settings.prefix}/` : '';
    this.location = `s3://${settings.bucket}/${this.root}${settings.endpoint ? ` at ${settings.endpoint}` : ''}`;
    this.client = s3Client(name, settings, options);
  }

  private key(key: string): string {
    return `${this.root}${key}`;
  }

  rememberIn(file: string): void {
    this.factsFile = file;
  }

  /** Whether the bucket has S3 Object Lock enabled (asked once per process; with rememberIn, once per UTC day). */
  objectLockEnabled(): Promise<boolean> {
    const known = this.factsFile ? readBucketFacts(this.factsFile, this.location).objectLock : undefined;
    if (known?.day === utcDay()) this.lockEnabled ??= Promise.resolve(known.enabled);
    this.lockEnabled ??= this.client.send(new GetObjectLockConfigurationCommand({ Bucket: this.settings.bucket })).then(
      (r) => this.learnt(r.ObjectLockConfiguration?.ObjectLockEnabled === 'Enabled'),
      // No configuration (404), or a server without Object Lock: objects are written without retention. Only the
      // server's own answer is remembered, not a network failure.
      (error: { $metadata?: { httpStatusCode?: number } }) => ((error.$metadata?.httpStatusCode ?? 500) < 500 ? this.learnt(false) : false),
    );
    return this.lockEnabled;
  }

  private learnt(enabled: boolean): boolean {
    if (this.factsFile) recordBucketFacts(this.factsFile, this.location, { objectLock: { enabled, day: utcDay() } });
    return enabled;
  }

  /**
   * Whether a PUT with If-None-Match: * is refused (412) when the object exists, so that a create-only write needs
   * no HEAD first. AWS S3 and versitygw honour it; servers that ignore the header (Backblaze B2 documents none)
   * would overwrite. Learned once with a probe object (never assumed) and remembered; without rememberIn (workers,
   * which write few small objects) the answer is no: a HEAD, then the conditional PUT, as always.
   */
  private conditionalWrites(): Promise<boolean> {
    if (!this.factsFile) return Promise.resolve(false);
    const file = this.factsFile;
    const known = readBucketFacts(file, this.location).conditionalWrites;
    this.conditional ??= known !== undefined ? Promise.resolve(known) : this.probeConditionalWrites().then((honoured) => {
      if (honoured !== undefined) recordBucketFacts(file, this.location, { conditionalWrites: honoured });
      return honoured ?? false;
    });
    return this.conditional;
  }

  /** true/false as the server answered; undefined when it could not be asked (asked again next time). */
  private async probeConditionalWrites(): Promise<boolean | undefined> {
    const put = async (): Promise<'written' | 'refused' | undefined> => {
      try {
        await this.client.send(new PutObjectCommand({ Bucket: this.settings.bucket, Key: this.key(CONDITIONAL_WRITE_PROBE), Body: Buffer.alloc(0), IfNoneMatch: '*' }));
        return 'written';
      } catch (error) {
        return this.preconditionFailed(error) ? 'refused' : undefined;
      }
    };
    const first = await put();
    if (first !== 'written') return first === 'refused' ? true : undefined; // it exists, and the server said so
    const second = await put(); // it exists now: a server that honours the header refuses
    return second === undefined ? undefined : second === 'refused';
  }

  private preconditionFailed(error: unknown): boolean {
    return (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 412 || (error as Error).name === 'PreconditionFailed';
  }

  private isVersioned(): Promise<boolean> {
    this.versioned ??= this.client.send(new GetBucketVersioningCommand({ Bucket: this.settings.bucket })).then(
      (r) => r.Status === 'Enabled' || r.Status === 'Suspended',
      () => false,
    );
    return this.versioned;
  }

  /** The Object Lock parameters of a write: only where the bucket has Object Lock and a date is given. */
  private async lockParams(options?: WriteOptions): Promise<{ ObjectLockMode?: 'COMPLIANCE' | 'GOVERNANCE'; ObjectLockRetainUntilDate?: Date }> {
    if (!options?.retainUntil || options.retainUntil.getTime() <= Date.now() || !(await this.objectLockEnabled())) return {};
    return { ObjectLockMode: this.settings.objectLockMode === 'governance' ? 'GOVERNANCE' : 'COMPLIANCE', ObjectLockRetainUntilDate: options.retainUntil };
  }

  /** Turns SDK errors into messages that say what to fix. */
  private explain(error: unknown, doing: string): PgwardenError {
    if (error instanceof PgwardenError) return error;
    const e = error as { name?: string; code?: string; message?: string; $metadata?: { httpStatusCode?: number } };
    const status = e.$metadata?.httpStatusCode;
    const where = `repository "${this.name}" (${this.location})`;
    const name = e.name && e.name !== 'Unknown' ? e.name : e.code ?? (status ? `HTTP ${status}` : 'Error');
    if (name === 'NoSuchBucket' || (doing === 'check' && status === 404)) {
      return new PgwardenError(
        'NotFound',
        `S3 bucket '${this.settings.bucket}' not found at ${this.settings.endpoint ?? 'AWS'}: create it or fix repositories.${this.name}.bucket.`,
        { cause: error },
      );
    }
    if (['InvalidAccessKeyId', 'SignatureDoesNotMatch', 'AccessDenied', 'InvalidToken', 'ExpiredToken', 'Forbidden', 'Unauthorized'].includes(name) || status === 403 || status === 401) {
      const vars = [this.settings.accessKeyIdEnv, this.settings.secretAccessKeyEnv].filter(Boolean).join(' / ') || 'the default AWS credential chain';
      return new PgwardenError(
        'Config',
        `S3 refused the credentials for ${where} while trying to ${doing} (${name}): check ${vars} and that the key may read and write bucket '${this.settings.bucket}'.`,
        { cause: error },
      );
    }
    if (/CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS/.test(`${e.code ?? ''} ${name}`)) {
      return new PgwardenError(
        'Config',
        `TLS to ${where} failed (${e.code ?? name}: ${e.message ?? ''}): the endpoint's certificate is not trusted. ` +
          `For a private CA set repositories.${this.name}.caFile to its PEM file; check that the endpoint's host name is in the certificate.`,
        { cause: error },
      );
    }
    if (['ECONNREFUSED', 'ENOTFOUND', 'ETIMEDOUT', 'ECONNRESET', 'EAI_AGAIN', 'TimeoutError'].includes(name) || ['ECONNREFUSED', 'ENOTFOUND', 'ETIMEDOUT', 'ECONNRESET', 'EAI_AGAIN'].includes(e.code ?? '')) {
      return new PgwardenError('Unavailable', `Cannot reach ${where} to ${doing}: ${e.message ?? name}. Check the endpoint and the network.`, { cause: error });
    }
    return new PgwardenError('Failed', `S3 error for ${where} while trying to ${doing}: ${name}${e.message ? `: ${e.message}` : ''}.`, {
      cause: error,
      retryable: status === undefined || status >= 500,
    });
  }

  async check(): Promise<void> {
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.settings.bucket }));
    } catch (error) {
      throw this.explain(error, 'check');
    }
  }

  async put(key: string, body: Readable, signal?: AbortSignal, options?: WriteOptions): Promise<void> {
    try {
      await uploadStream(this.client, { Bucket: this.settings.bucket, Key: this.key(key) }, body, {
        partBytes: this.settings.partSizeMiB * 1024 * 1024,
        concurrency: this.settings.uploadConcurrency,
        crc32: this.settings.requestChecksums === 'when_supported',
        objectParams: await this.lockParams(options),
        ...(signal ? { signal } : {}),
      });
    } catch (error) {
      // An error in the source (pg_dump failed, say) fails the upload, never ends it early as a short object, and
      // is passed on as it is. (The source is also destroyed when the upload fails first: then S3's error counts.)
      if (body.errored && error === body.errored) throw error;
      throw this.explain(error, `upload ${key}`);
    }
  }

  async putBytes(key: string, data: Buffer, options: { ifAbsent?: boolean; metadata?: Record<string, string> } & WriteOptions = {}): Promise<boolean> {
    try {
      // Create-only: where the server honours If-None-Match the PUT alone decides (one round trip per WAL segment).
      if (options.ifAbsent && !(await this.conditionalWrites()) && (await this.head(key))) return false;
      const lock = await this.lockParams(options);
      await this.client.send(
        new PutObjectCommand({
          Bucket: this.settings.bucket,
          Key: this.key(key),
          Body: data,
          ContentLength: data.length,
          ...(options.metadata ? { Metadata: options.metadata } : {}),
          ...(options.ifAbsent ? { IfNoneMatch: '*' } : {}),
          ...lock,
        }),
      );
      return true;
    } catch (error) {
      if (options.ifAbsent && this.preconditionFailed(error)) return false;
      throw this.explain(error, `write ${key}`);
    }
  }

  async get(key: string, signal?: AbortSignal): Promise<Readable> {
    try {
      const result = await this.client.send(new GetObjectCommand({ Bucket: this.settings.bucket, Key: this.key(key) }), {
        abortSignal: signal,
      });
      // The SDK checks the object's stored CRC as it streams: a mismatch means the object is damaged.
      const body = result.Body as Readable;
      const out = new PassThrough({ highWaterMark: 256 * 1024 });
      body.once('error', (error) => {
        const damaged = /checksum mismatch/i.test(error.message);
        out.destroy(
          damaged
            ? new PgwardenError('Integrity', `${key} in repository "${this.name}" is corrupt: ${error.message} Restore from another backup or repository.`, { cause: error })
            : this.explain(error, `read ${key}`),
        );
      });
      out.once('close', () => body.destroy());
      return body.pipe(out);
    } catch (error) {
      if ((error as Error).name === 'NoSuchKey') {
        throw new PgwardenError('NotFound', `Object ${key} not found in repository "${this.name}" (${this.location}).`, { cause: error });
      }
      throw this.explain(error, `read ${key}`);
    }
  }

  async getBytes(key: string): Promise<Buffer | undefined> {
    try {
      const result = await this.client.send(new GetObjectCommand({ Bucket: this.settings.bucket, Key: this.key(key) }));
      return Buffer.from(await result.Body!.transformToByteArray());
    } catch (error) {
      if ((error as Error).name === 'NoSuchKey') return undefined;
      throw this.explain(error, `read ${key}`);
    }
  }

  async getBytesWithMetadata(key: string): Promise<{ data: Buffer; metadata: Record<string, string> } | undefined> {
    try {
      const result = await this.client.send(new GetObjectCommand({ Bucket: this.settings.bucket, Key: this.key(key) }));
      return { data: Buffer.from(await result.Body!.transformToByteArray()), metadata: result.Metadata ?? {} };
    } catch (error) {
      if ((error as Error).name === 'NoSuchKey') return undefined;
      if (/checksum mismatch/i.test((error as Error).message)) {
        throw new PgwardenError('Integrity', `${key} in repository "${this.name}" is corrupt: ${(error as Error).message}`, { cause: error });
      }
      throw this.explain(error, `read ${key}`);
    }
  }

  async head(key: string): Promise<StoredObject | undefined> {
    try {
      const result = await this.client.send(new HeadObjectCommand({ Bucket: this.settings.bucket, Key: this.key(key) }));
      return {
        key,
        size: result.ContentLength ?? 0,
        ...(result.LastModified ? { modified: result.LastModified } : {}),
        metadata: result.Metadata ?? {},
        ...(result.ObjectLockRetainUntilDate ? { retainUntil: new Date(result.ObjectLockRetainUntilDate) } : {}),
      };
    } catch (error) {
      const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
      if ((error as Error).name === 'NotFound' || (error as Error).name === 'NoSuchKey' || status === 404) return undefined;
      throw this.explain(error, `look up ${key}`);
    }
  }

  async *list(prefix: string): AsyncIterable<StoredObject> {
    let token: string | undefined;
    do {
      let page;
      try {
        page = await this.client.send(
          new ListObjectsV2Command({ Bucket: this.settings.bucket, Prefix: this.key(prefix), ContinuationToken: token }),
        );
      } catch (error) {
        throw this.explain(error, `list ${prefix}`);
      }
      for (const item of page.Contents ?? []) {
        if (item.Key) yield { key: item.Key.slice(this.root.length), size: item.Size ?? 0, ...(item.LastModified ? { modified: item.LastModified } : {}) };
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  async listFolders(prefix: string): Promise<string[]> {
    const folders: string[] = [];
    let token: string | undefined;
    const base = prefix.replace(/\/?$/, '/').replace(/^\/$/, '');
    do {
      let page;
      try {
        page = await this.client.send(
          new ListObjectsV2Command({ Bucket: this.settings.bucket, Prefix: this.key(base), Delimiter: '/', ContinuationToken: token }),
        );
      } catch (error) {
        throw this.explain(error, `list ${prefix}`);
      }
      for (const item of page.CommonPrefixes ?? []) if (item.Prefix) folders.push(item.Prefix.slice(this.root.length));
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return folders.sort();
  }

  async delete(keys: string[]): Promise<DeleteOutcome> {
    const locked: string[] = [];
    // A versioned bucket (every bucket with Object Lock) keeps a deleted object as an old version: remove the
    // versions themselves, or nothing is freed. Object Lock refuses the locked ones: they are reported.
    const targets = (await this.isVersioned()) ? await this.versionsOf(keys) : keys.map((key) => ({ Key: this.key(key) }));
    for (let i = 0; i < targets.length; i += 1000) {
      const batch = targets.slice(i, i + 1000);
      let result;
      try {
        result = await this.client.send(new DeleteObjectsCommand({ Bucket: this.settings.bucket, Delete: { Objects: batch, Quiet: true } }));
      } catch (error) {
        // AWS reports locked objects one by one in Errors; some servers (versitygw) refuse the whole request.
        if (!(this.isAccessDenied(error) && (await this.objectLockEnabled()))) throw this.explain(error, 'delete objects');
        result = { Errors: await this.deleteOneByOne(batch) };
      }
      const failed = [];
      for (const e of result.Errors ?? []) {
        if (e.Code === 'AccessDenied' && (await this.objectLockEnabled())) locked.push(e.Key!.slice(this.root.length));
        else failed.push(e);
      }
      if (failed.length > 0) {
        throw new PgwardenError(
          'Failed',
          `Could not delete ${failed.length} object(s) from repository "${this.name}", first ${failed[0]?.Key}: ${failed[0]?.Code} ${failed[0]?.Message ?? ''}`,
          { retryable: true },
        );
      }
    }
    return { locked: [...new Set(locked)] };
  }

  private isAccessDenied(error: unknown): boolean {
    const e = error as { name?: string; $metadata?: { httpStatusCode?: number } };
    return e.name === 'AccessDenied' || e.$metadata?.httpStatusCode === 403;
  }

  private async deleteOneByOne(batch: Array<{ Key: string; VersionId?: string }>): Promise<Array<{ Key: string; Code: string; Message?: string }>> {
    const errors: Array<{ Key: string; Code: string; Message?: string }> = [];
    for (const target of batch) {
      try {
        await this.client.send(new DeleteObjectCommand({ Bucket: this.settings.bucket, ...target }));
      } catch (error) {
        errors.push({ Key: target.Key, Code: this.isAccessDenied(error) ? 'AccessDenied' : ((error as Error).name ?? 'Error'), Message: (error as Error).message });
      }
    }
    return errors;
  }

  /** Every version and delete marker of `keys`, listed under their common prefix. */
  private async versionsOf(keys: string[]): Promise<Array<{ Key: string; VersionId?: string }>> {
    if (keys.length === 0) return [];
    const wanted = new Set(keys.map((key) => this.key(key)));
    const sorted = [...wanted].sort();
    let prefix = sorted[0]!;
    const last = sorted.at(-1)!;
    while (!last.startsWith(prefix)) prefix = prefix.slice(0, -1);
    const found: Array<{ Key: string; VersionId?: string }> = [];
    let keyMarker: string | undefined;
    let versionMarker: string | undefined;
    for (;;) {
      let page;
      try {
        page = await this.client.send(new ListObjectVersionsCommand({ Bucket: this.settings.bucket, Prefix: prefix, KeyMarker: keyMarker, VersionIdMarker: versionMarker }));
      } catch (error) {
        throw this.explain(error, `list versions under ${prefix}`);
      }
      for (const v of [...(page.Versions ?? []), ...(page.DeleteMarkers ?? [])]) {
        if (v.Key && wanted.has(v.Key)) found.push({ Key: v.Key, ...(v.VersionId ? { VersionId: v.VersionId } : {}) });
      }
      if (!page.IsTruncated) return found;
      keyMarker = page.NextKeyMarker;
      versionMarker = page.NextVersionIdMarker;
    }
  }

  async abortIncompleteWrites(prefix: string, options: { olderThan?: Date } = {}): Promise<number> {
    let aborted = 0;
    let keyMarker: string | undefined;
    let uploadIdMarker: string | undefined;
    for (;;) {
      let page;
      try {
        page = await this.client.send(
          new ListMultipartUploadsCommand({
            Bucket: this.settings.bucket,
            Prefix: this.key(prefix),
            KeyMarker: keyMarker,
            UploadIdMarker: uploadIdMarker,
          }),
        );
      } catch (error) {
        throw this.explain(error, `list unfinished uploads under ${prefix}`);
      }
      for (const upload of page.Uploads ?? []) {
        if (!upload.Key || !upload.UploadId) continue;
        if (options.olderThan && (!upload.Initiated || upload.Initiated >= options.olderThan)) continue;
        await this.client
          .send(new AbortMultipartUploadCommand({ Bucket: this.settings.bucket, Key: upload.Key, UploadId: upload.UploadId }))
          .catch((error: unknown) => {
            if ((error as Error).name !== 'NoSuchUpload') throw this.explain(error, `abort upload of ${upload.Key}`);
          });
        aborted += 1;
      }
      if (!page.IsTruncated) return aborted;
      keyMarker = page.NextKeyMarker;
      uploadIdMarker = page.NextUploadIdMarker;
    }
  }
}
