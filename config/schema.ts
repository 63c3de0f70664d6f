// The zod schema of pgwarden.yaml: what may be written, the defaults, and the hint an error shows.
import { z } from 'zod';
import { parseDuration } from './duration.js';
import { AlertSettings, DatabaseAlerts, DrillSettings } from './monitoring.js';

/** Names end up in object keys, workflow ids and database names: keep them boring. */
const NAME = /^[a-z0-9][a-z0-9_-]{0,62}$/;
const ENV_VAR = /^[A-Za-z_][A-Za-z0-9_]*$/;

const envVarName = (what: string) =>
  z.string().regex(ENV_VAR, {
    message: `must be the NAME of an environment variable that holds ${what} (for example B2_APP_KEY), never the value itself`,
  });

const duration = (example: string) =>
  z
    .union([z.string(), z.number()])
    .transform((value, ctx) => {
      const ms = typeof value === 'number' ? value * 1_000 : parseDuration(value);
      if (ms === undefined || ms <= 0) {
        ctx.addIssue({ code: 'custom', message: `"${value}" is not a duration: write it like "${example}" (units s, m, h, d, w)` });
        return z.NEVER;
      }
      return ms;
    });

/** Where a secret comes from. Inline secrets are refused on purpose: config files end up in git. */
export const SecretSource = z.union(
  [
    z.strictObject({ env: envVarName('the value') }),
    z.strictObject({ file: z.string().min(1, 'must be the path of a file that holds the value') }),
  ],
  { error: 'must be { env: VAR_NAME } or { file: /path/to/secret }: secrets are never written into pgwarden.yaml' },
);
export type SecretSource = z.infer<typeof SecretSource>;

export const Environment = z.enum(['production', 'staging', 'development'], {
  error: 'must be production, staging or development',
});
export type Environment = z.infer<typeof Environment>;


/** An OpenPGP private key that opens data keys (restores), with the passphrase that protects it, if any. */
const PrivateKey = z
  .strictObject({
    env: envVarName('the armored private key').optional(),
    file: z.string().min(1).optional(),
    passphraseEnv: envVarName("the private key's passphrase").optional(),
    passphraseFile: z.string().min(1).optional(),
  })
  .refine((k) => (k.env === undefined) !== (k.file === undefined), {
    message: 'must name the armored private key with { env: VAR } or { file: /path/key.asc } (one of them), and its passphrase with passphraseEnv or passphraseFile if it has one',
  });
export type PrivateKeySettings = z.infer<typeof PrivateKey>;

const s2kCount = z.number().int().min(1024).max(65011712);

/**
 * Envelope encryption: every backup (and every day of WAL) gets a random data key, wrapped for the passphrase
 * and/or the recipients' public keys; `previous` keys only ever open data keys (key rotation).
 */
const Encryption = z
  .strictObject({
    passphraseEnv: envVarName('the backup passphrase').optional(),
    passphraseFile: z.string().min(1).optional(),
    /** Armored OpenPGP public keys new data keys are wrapped for (a worker with these alone can back up, not restore). */
    recipients: z.array(SecretSource).default([]),
    /** Private keys that open data keys wrapped for their public keys (restores). */
    privateKeys: z.array(PrivateKey).default([]),
    /** Keys from before a rotation: used only to open existing data keys, never to wrap new ones. */
    previous: z
      .array(
        z.union([z.strictObject({ passphraseEnv: envVarName('an earlier backup passphrase') }), z.strictObject({ passphraseFile: z.string().min(1) }), PrivateKey], {
          error: 'each previous key is { passphraseEnv: VAR }, { passphraseFile: PATH } or a private key { file|env, passphraseEnv|passphraseFile }',
        }),
      )
      .default([]),
    /** gpg's passphrase hashing (--s2k-count) when a data key is wrapped for the passphrase: once per backup and per day of WAL. */
    s2kCount: s2kCount.optional(),
  })
  .superRefine((e, ctx) => {
    if (e.passphraseEnv !== undefined && e.passphraseFile !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['passphraseFile'], message: 'give the passphrase once: passphraseEnv or passphraseFile, not both' });
    }
    if (e.passphraseEnv === undefined && e.passphraseFile === undefined && e.recipients.length === 0) {
      ctx.addIssue({
        code: 'custom',
        message: 'needs a key to encrypt new backups with: passphraseEnv: BACKUP_PASSPHRASE (or passphraseFile), and/or recipients: [{ file: /etc/pgwarden/ops.pub.asc }]',
      });
    }
  })
  .prefault({ passphraseEnv: 'BACKUP_PASSPHRASE' });

const PitrSettings = z.strictObject({
  /** Repository that holds this database's WAL archive and base backups. */
  repository: z.string().regex(NAME, { message: 'must name a repository declared under repositories:' }).optional(),
  /** How long base backups (and the WAL they need) are kept: the PITR window. */
  retention: duration('7d').default(7 * 86_400_000),
  /** OS user that runs restored clusters when pgwarden runs as root (PostgreSQL refuses to run as root). */
  runAs: z.string().min(1).default('postgres'),
  /** Where point-in-time restores create their data directories (default: the runAs user's home). */
  restoreDirectory: z.string().min(1).optional(),
});

export const PROVIDERS = ['postgres', 'neon', 'supabase'] as const;
export type Provider = (typeof PROVIDERS)[number];

/** Neon's API (https://api-docs.neon.tech): backups dump a branch made for them; PITR makes a branch at a time. */
const NeonSettings = z.strictObject({
  /** The project id from the Neon console (Settings), e.g. "shiny-wind-028834". */
  projectId: z.string().regex(/^[a-z0-9-]{1,60}$/, { message: 'must be the Neon project id, e.g. shiny-wind-028834 (Settings in the Neon console)' }),
  /** Environment variable holding the Neon API key (the runbook's NEON_API_KEY). */
  apiKeyEnv: envVarName('the Neon API key').default('NEON_API_KEY'),
  /** Branch the backups and PITR branches start from: an id (br-…) or a name; default the project's default branch. */
  parentBranch: z.string().min(1).max(256).optional(),
  /** The database and the role that owns it, as in the branch's connection details. */
  database: z.string().min(1).default('neondb'),
  role: z.string().min(1).default('neondb_owner'),
  /** Neon's v2 API; tests point it at a local stand-in. */
  apiUrl: z.url({ message: 'must be a URL such as https://console.neon.tech/api/v2' }).default('https://console.neon.tech/api/v2'),
  /** Backup branches expire on their own after this long (Neon's expires_at), should pgwarden not delete them; false: never. */
  branchExpiry: z.union([duration('24h'), z.literal(false)]).default(24 * 3_600_000),
});
export type NeonSettings = z.output<typeof NeonSettings>;

/** A Supabase project: dumped and restored without Docker, with the platform's own schemas and roles left to it. */
const SupabaseSettings = z.strictObject({
  /** The project ref (20 letters, as in db.<ref>.supabase.co): the connection must belong to it. */
  projectRef: z.string().regex(/^[a-z]{20}$/, { message: 'must be the 20-letter project ref, as in db.<ref>.supabase.co' }).optional(),
});
export type SupabaseSettings = z.output<typeof SupabaseSettings>;

const repositoryList = z.array(z.string().regex(NAME, { message: 'must name a repository declared under repositories:' })).min(1);

/** What one kind of backup of one database does differently (runbook: pre-migration also goes to S3, kept 90 days). */
const KindSettings = z.strictObject({
  /** Where backups of this kind go, instead of the database's repositories (each gets a verified copy). */
  repositories: repositoryList.optional(),
  /** How long backups of this kind are kept, instead of retention.<kind>. */
  retention: duration('90d').optional(),
});

export const DatabaseSettings = z.strictObject({
  provider: z.enum(PROVIDERS, { error: `must be one of ${PROVIDERS.join(', ')}` }).default('postgres'),
  /** Required for postgres and supabase; a Neon database is reached through the branches the API makes. */
  connection: SecretSource.optional(),
  neon: NeonSettings.optional(),
  supabase: SupabaseSettings.optional(),
  /** Where restores go when it is not the server the backup came from (for example a staging server). */
  restoreConnection: SecretSource.optional(),
  environment: Environment.default('production'),
  rto: duration('1h').optional(),
  rpo: duration('24h').optional(),
  /** Repositories that receive this database's backups; the first is where restores read from. */
  repositories: repositoryList.optional(),
  /** Per kind of backup (daily, weekly, monthly, pre-migration, manual): other repositories, other retention. */
  kinds: z
    .strictObject({
      daily: KindSettings.optional(),
      weekly: KindSettings.optional(),
      monthly: KindSettings.optional(),
      'pre-migration': KindSettings.optional(),
      manual: KindSettings.optional(),
    })
    .optional(),
  pitr: PitrSettings.optional(),
  /**
   * Temporal Schedules (`pgwarden schedules apply`): a cron expression (UTC) per job, or false to leave it out.
   * Defaults are the runbook's: daily 02:00, weekly Sunday 01:00, monthly first Monday 00:00; base backups
   * 03:00 and retention 05:00 daily (base backups only with pitr: set).
   */
  schedules: z
    .strictObject({
      daily: z.union([z.string().min(9), z.literal(false)]).optional(),
      weekly: z.union([z.string().min(9), z.literal(false)]).optional(),
      monthly: z.union([z.string().min(9), z.literal(false)]).optional(),
      basebackup: z.union([z.string().min(9), z.literal(false)]).optional(),
      expire: z.union([z.string().min(9), z.literal(false)]).optional(),
      /** Restore drill (default: first day of the month 04:00), integrity check (Sundays 06:00), monitor (every 15 min). */
      drill: z.union([z.string().min(9), z.literal(false)]).optional(),
      verify: z.union([z.string().min(9), z.literal(false)]).optional(),
      monitor: z.union([z.string().min(9), z.literal(false)]).optional(),
    })
    .optional(),
  /** Alert thresholds for this database (override alerts: at the top level). */
  alerts: DatabaseAlerts.optional(),
  /** Restore drills: where they run and what the restored data must satisfy. */
  drill: DrillSettings.optional(),
});

const S3Repository = z.strictObject({
  type: z.literal('s3'),
  /** Omit for AWS S3; https://s3.<region>.backblazeb2.com for Backblaze B2; http://127.0.0.1:7070 for versitygw. */
  endpoint: z.url({ message: 'must be a URL such as https://s3.eu-central-003.backblazeb2.com' }).optional(),
  region: z.string().min(1).default('us-east-1'),
  bucket: z.string().min(3, 'must be the bucket name'),
  prefix: z
    .string()
    .default('')
    .transform((p) => p.replace(/^\/+|\/+$/g, '')),
  forcePathStyle: z.boolean().default(false),
  accessKeyIdEnv: envVarName('the access key id').optional(),
  secretAccessKeyEnv: envVarName('the secret access key').optional(),
  /**
   * The SDK adds CRC32 checksums to every request by default; Backblaze B2 has rejected those headers.
   * "when_required" sends them only where S3 demands it (pgwarden still keeps a sha256 of every object).
   */
  requestChecksums: z.enum(['when_supported', 'when_required']).default('when_supported'),
  /**
   * Hash every uploaded byte into the request signature (SigV4 signed payload). Default: only over plain http or
   * with requestChecksums: when_required; over https with CRC32s, S3 checks each part's CRC32 and pgwarden its own
   * sha256 on every read, and a second hash of every byte would cost the worker CPU for nothing.
   */
  signPayload: z.boolean().optional(),
  partSizeMiB: z.number().int().min(5).max(512).default(5),
  uploadConcurrency: z.number().int().min(1).max(64).default(2),
  /**
   * Where the bucket has S3 Object Lock enabled, objects are written locked until their retention ends: compliance
   * (nobody can delete them early, not even the account's root) or governance (a key with the bypass permission can).
   */
  objectLockMode: z.enum(['compliance', 'governance']).default('compliance'),
  /** PEM file of the CA that signed an https endpoint's certificate (a private CA): the only CA trusted for it. */
  caFile: z.string().min(1, 'must be the path of a PEM file with the CA certificate').optional(),
});

const FsRepository = z.strictObject({
  type: z.literal('fs'),
  path: z.string().min(1, 'must be a directory path such as /var/backups/pgwarden'),
});

export const RepositorySettings = z.discriminatedUnion('type', [S3Repository, FsRepository], {
  error: 'needs type: s3 (with endpoint, bucket, …) or type: fs (with path)',
});
export type RepositorySettings = z.infer<typeof RepositorySettings>;
export type S3RepositorySettings = z.infer<typeof S3Repository>;
export type FsRepositorySettings = z.infer<typeof FsRepository>;

export const ConfigSchema = z
  .strictObject({
    temporal: z
      .strictObject({
        address: z.string().min(1).default('localhost:7233'),
        namespace: z.string().min(1).default('default'),
        taskQueue: z.string().min(1).default('pgwarden'),
        /**
         * This worker's own task queue, for steps that need its disk (a PITR's data directory): every step of one
         * PITR runs there. Default: <taskQueue>@<host name>. Workers that share a disk may share it.
         */
        hostTaskQueue: z.string().min(1).optional(),
        /** How long a PITR waits for the worker that holds its data directory (a restart) before starting over on another. */
        hostWait: duration('2m').default(120_000),
        /** Temporal Cloud API key, from the environment. */
        apiKeyEnv: envVarName('the Temporal API key').optional(),
        /** true: TLS with the system's CAs; an object: a private CA, a client certificate (mTLS), a server name. */
        tls: z
          .union(
            [
              z.boolean(),
              z
                .strictObject({
                  caFile: z.string().min(1).optional(), // PEM: the CA that signed the server's certificate
                  certFile: z.string().min(1).optional(), // PEM: this client's certificate (mTLS)
                  keyFile: z.string().min(1).optional(), // PEM: its private key (a secret: keep the file readable by pgwarden only)
                  serverName: z.string().min(1).optional(), // the name the server's certificate carries, when not the address's host
                })
                .refine((t) => (t.certFile === undefined) === (t.keyFile === undefined), {
                  message: 'certFile and keyFile go together: the client certificate and its private key',
                }),
            ],
            { error: 'must be true, false, or { caFile, certFile, keyFile, serverName } (file paths)' },
          )
          .default(false),
        /** Temporal UI address, for links in reports (the dev server's is http://localhost:8233). */
        ui: z.url().optional(),
      })
      .prefault({}),
    encryption: Encryption,
    backup: z
      .strictObject({
        /** Parallel dump/restore streams per database (pg_dump/psql processes). */
        jobs: z.number().int().min(1).max(32).default(2),
        /** zstd level: 1 fastest … 19 smallest. Level 1 is measured within 1 % of level 3's size on table data, at half the CPU. */
        compressionLevel: z.number().int().min(-5).max(19).default(1),
        /** zstd worker threads per stream (0 = one per core). */
        compressionThreads: z.number().int().min(0).max(64).default(1),
        /** Tables at least this large get a data stream of their own (in MiB); smaller ones share one. */
        splitTableMiB: z.number().min(0).default(32),
        /** Tables larger than this are cut into block ranges of about this size, dumped and restored in parallel (PostgreSQL 14+). */
        chunkMiB: z.number().min(0).default(128),
      })
      .prefault({}),
    /** How long logical backups of each kind are kept (the runbook's table); the newest backup is always kept. */
    retention: z
      .strictObject({
        daily: duration('30d').default(30 * 86_400_000),
        weekly: duration('12w').default(12 * 7 * 86_400_000),
        monthly: duration('365d').default(365 * 86_400_000),
        'pre-migration': duration('90d').default(90 * 86_400_000),
        manual: duration('30d').default(30 * 86_400_000),
      })
      .prefault({}),
    /** The worker process (pgwarden worker). */
    worker: z
      .strictObject({
        /**
         * On SIGTERM/SIGINT, how long running activities may go on before they are stopped and handed to another
         * worker. The default fits `docker stop` (10 s) and Kubernetes (30 s) with time left for clean-up.
         */
        shutdownGraceTime: duration('5s').default(5_000),
        /**
         * Dumps (logical and base backups, copies to further repositories) this worker runs at once, and as many
         * restores: more wait in Temporal's task queue for this or another worker. Default: one per CPU core, at most
         * one per 512 MiB of memory beyond the first 256 MiB (the container's limit where lower), at least 1.
         */
        maxConcurrentJobs: z.number().int().min(1).max(256).optional(),
      })
      .prefault({}),
    postgres: z
      .strictObject({
        /** Directory with pg_dump/pg_restore/psql; found by the server's major version when omitted. */
        binDir: z.string().optional(),
      })
      .prefault({}),
    /** Alert thresholds (defaults for every database) and where alerts go. */
    alerts: AlertSettings,
    repositories: z.record(z.string().regex(NAME, { message: 'repository names are lower-case letters, digits, - and _' }), RepositorySettings, {
      error: 'must map repository names to { type: s3 | fs, … }',
    }),
    databases: z.record(z.string().regex(NAME, { message: 'database names are lower-case letters, digits, - and _' }), DatabaseSettings, {
      error: 'must map database names to { connection: { env: VAR }, environment: production, … }',
    }),
  })
  .superRefine((cfg, ctx) => {
    const repoNames = Object.keys(cfg.repositories);
    if (repoNames.length === 0) {
      ctx.addIssue({ code: 'custom', path: ['repositories'], message: 'declare at least one repository, for example  local: { type: fs, path: /var/backups/pgwarden }' });
    }
    for (const [dbName, db] of Object.entries(cfg.databases)) {
      for (const [i, repo] of (db.repositories ?? []).entries()) {
        if (!cfg.repositories[repo]) {
          ctx.addIssue({
            code: 'custom',
            path: ['databases', dbName, 'repositories', i],
            message: `repository "${repo}" is not declared under repositories: (declared: ${repoNames.join(', ') || 'none'})`,
          });
        }
      }
      for (const [kind, settings] of Object.entries(db.kinds ?? {})) {
        for (const [i, repo] of (settings?.repositories ?? []).entries()) {
          if (!cfg.repositories[repo]) {
            ctx.addIssue({
              code: 'custom',
              path: ['databases', dbName, 'kinds', kind, 'repositories', i],
              message: `repository "${repo}" is not declared under repositories: (declared: ${repoNames.join(', ') || 'none'})`,
            });
          }
        }
      }
      if (!db.repositories && repoNames.length > 1) {
        ctx.addIssue({
          code: 'custom',
          path: ['databases', dbName, 'repositories'],
          message: `several repositories are declared (${repoNames.join(', ')}): say which this database uses, for example  repositories: [${repoNames[0]}]`,
        });
      }
      checkProvider(dbName, db, ctx);
      if (db.pitr?.repository && !cfg.repositories[db.pitr.repository]) {
        ctx.addIssue({
          code: 'custom',
          path: ['databases', dbName, 'pitr', 'repository'],
          message: `repository "${db.pitr.repository}" is not declared under repositories:`,
        });
      }
    }
  });

/** Combinations a provider cannot have, named by key path at load time. */
function checkProvider(dbName: string, db: z.output<typeof DatabaseSettings>, ctx: z.core.$RefinementCtx): void {
  const at = (...path: string[]) => ['databases', dbName, ...path];
  const issue = (path: string[], message: string) => ctx.addIssue({ code: 'custom', path, message });
  if (db.provider === 'neon') {
    if (!db.neon) issue(at('neon'), 'provider neon needs  neon: { projectId: <project id>, apiKeyEnv: NEON_API_KEY }');
    if (db.connection) issue(at('connection'), 'a Neon database is read through a branch made for each backup, whose connection comes from the Neon API: remove connection (use restoreConnection to restore elsewhere)');
    if (db.pitr) issue(at('pitr'), 'Neon keeps the history itself: point-in-time restores make a branch at that time; remove pitr');
  } else if (!db.connection) {
    issue(at('connection'), 'is required: { env: VAR } naming a variable that holds the postgresql:// URL');
  }
  if (db.provider !== 'neon' && db.neon) issue(at('neon'), `only for provider: neon (this database is ${db.provider})`);
  if (db.provider !== 'supabase' && db.supabase) issue(at('supabase'), `only for provider: supabase (this database is ${db.provider})`);
  if (db.provider === 'supabase' && db.pitr) {
    issue(at('pitr'), 'Supabase does not give you its WAL: point-in-time recovery is in the Supabase dashboard (PITR add-on); remove pitr');
  }
}

export type ConfigInput = z.input<typeof ConfigSchema>;
export type Config = z.output<typeof ConfigSchema>;
export type DatabaseSettings = z.output<typeof DatabaseSettings>;
