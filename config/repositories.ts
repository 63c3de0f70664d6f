// The repositories of pgwarden.yaml (repositories.<name>): an S3 bucket or a directory.
import { z } from 'zod';
import { envVarName } from './fields.js';

const s3Keys = { description: 'environment variables holding the access key id and the secret access key', defaultText: 'the AWS credential chain (omit both)' };

const S3Repository = z.strictObject({
  type: z.literal('s3').describe('an S3 bucket: AWS, Backblaze B2 or any S3-compatible server'),
  endpoint: z
    .url({ message: 'must be a URL such as https://s3.eu-central-003.backblazeb2.com' })
    .optional()
    .meta({
      description: 'the S3 endpoint: `https://s3.<region>.backblazeb2.com` for Backblaze B2, `http://127.0.0.1:7070` for a local versitygw; omit it for AWS',
      defaultText: 'AWS',
    }),
  region: z.string().min(1).default('us-east-1').describe("the bucket's region"),
  bucket: z.string().min(3, 'must be the bucket name').describe('the bucket'),
  prefix: z
    .string()
    .default('')
    .transform((p) => p.replace(/^\/+|\/+$/g, ''))
    .describe('a folder in the bucket that holds all of pgwarden\'s objects'),
  forcePathStyle: z.boolean().default(false).describe('path-style URLs (`endpoint/bucket/key`), as servers without bucket host names need'),
  accessKeyIdEnv: envVarName('the access key id').optional().meta(s3Keys),
  secretAccessKeyEnv: envVarName('the secret access key').optional().meta(s3Keys),
  // pgwarden still keeps a sha256 of every object.
  requestChecksums: z
    .enum(['when_supported', 'when_required'])
    .default('when_supported')
    .describe(
      'the CRC32 checksums the SDK adds to requests: `when_supported` (every request) or `when_required` (only where S3 demands them), for Backblaze B2, which has rejected those headers',
    ),
  // A second hash of every byte would cost the worker CPU for nothing.
  signPayload: z.boolean().optional().meta({
    description:
      "hash every uploaded byte into the request signature (SigV4 signed payload); over https with CRC32s, S3 checks each part's CRC32 and pgwarden its own sha256 on every read",
    defaultText: 'only over plain http or with `requestChecksums: when_required`',
  }),
  partSizeMiB: z.number().int().min(5).max(512).default(5).describe('the size of one part of a multipart upload, in MiB'),
  uploadConcurrency: z
    .number()
    .int()
    .min(1)
    .max(64)
    .default(2)
    .describe("parts uploaded at once per stream: the worker's memory is jobs × (concurrency + 1) × part size"),
  objectLockMode: z
    .enum(['compliance', 'governance'])
    .default('compliance')
    .describe(
      "used only where the bucket has S3 Object Lock: objects are written locked until their retention ends, `compliance` (nobody can delete them early, not even the account's root) or `governance` (a key with the bypass permission can); see [Encryption and keys](#encryption-and-keys)",
    ),
  caFile: z
    .string()
    .min(1, 'must be the path of a PEM file with the CA certificate')
    .optional()
    .describe("PEM file of a private CA that signed an `https` endpoint's certificate: the only CA trusted for this repository"),
});

const FsRepository = z.strictObject({
  type: z.literal('fs').describe('a directory'),
  path: z.string().min(1, 'must be a directory path such as /var/backups/pgwarden').describe('a local or mounted directory'),
});

export const RepositorySettings = z.discriminatedUnion('type', [S3Repository, FsRepository], {
  error: 'needs type: s3 (with endpoint, bucket, …) or type: fs (with path)',
});
export type RepositorySettings = z.infer<typeof RepositorySettings>;
export type S3RepositorySettings = z.infer<typeof S3Repository>;
export type FsRepositorySettings = z.infer<typeof FsRepository>;
