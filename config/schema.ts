// The zod schema of pgwarden.yaml: what may be written, the defaults, and the hint an error shows.
import { z } from 'zod';
import { cronProblem } from './cron.js';
import { duration, envVarName, NAME } from './fields.js';
import { AlertSettings, DatabaseAlerts, DrillSettings } from './monitoring.js';
import { RepositorySettings } from './repositories.js';

export { RepositorySettings, type FsRepositorySettings, type S3RepositorySettings } from './repositories.js';

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
    passphraseEnv: envVarName('the backup passphrase')
      .optional()
      .describe(
        'environment variable holding the backup passphrase (runbook: `BACKUP_PASSPHRASE`): new data keys are wrapped for it, and it opens them; optional when `recipients` are given (one of the two is required)',
      ),
    passphraseFile: z.string().min(1).optional().describe('a file holding the backup passphrase, instead of `passphraseEnv`'),
    recipients: z
      .array(SecretSource)
      .default([])
      .describe(
        'OpenPGP public keys new data keys are wrapped for: a list of `{ file: PATH }` or `{ env: VAR }` holding an armored key (`gpg --armor --export KEYID`). A worker with recipients and no passphrase can back up, archive WAL and take base backups, not restore or verify',
      ),
    privateKeys: z
      .array(PrivateKey)
      .default([])
      .describe(
        'private keys that open data keys wrapped for their public keys (restores): `{ file: PATH }` or `{ env: VAR }` with the armored key (`gpg --armor --export-secret-keys KEYID`), plus `passphraseEnv`/`passphraseFile` if it is protected',
      ),
    previous: z
      .array(
        z.union([z.strictObject({ passphraseEnv: envVarName('an earlier backup passphrase') }), z.strictObject({ passphraseFile: z.string().min(1) }), PrivateKey], {
          error: 'each previous key is { passphraseEnv: VAR }, { passphraseFile: PATH } or a private key { file|env, passphraseEnv|passphraseFile }',
        }),
      )
      .default([])
      .describe(
        'keys from before a rotation, used only to open existing data keys, never to wrap new ones: `{ passphraseEnv: VAR }`, `{ passphraseFile: PATH }`, or a private key as above',
      ),
    s2kCount: s2kCount.optional().meta({
      description: "gpg's passphrase hashing (`--s2k-count`) when a data key is wrapped for the passphrase: once per backup and per day of WAL, not per object",
      defaultText: "gpg's (65011712)",
    }),
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
  repository: z
    .string()
    .regex(NAME, { message: 'must name a repository declared under repositories:' })
    .optional()
    .meta({ description: 'where its WAL archive and base backups live', defaultText: 'its first repository' }),
  retention: duration('7d').prefault('7d').describe('the PITR window: how long base backups (and the WAL they need) are kept'),
  // PostgreSQL refuses to run as root.
  runAs: z.string().min(1).default('postgres').describe('OS user that runs restored clusters when pgwarden runs as root'),
  restoreDirectory: z
    .string()
    .min(1)
    .optional()
    .meta({
      description: 'where point-in-time restores create their data directories',
      defaultText: '`pgwarden-pitr` in the home of `runAs` (when pgwarden runs as root), else of the user running pgwarden',
    }),
});

export const PROVIDERS = ['postgres', 'neon', 'supabase'] as const;
export type Provider = (typeof PROVIDERS)[number];

/** Neon's API (https://api-docs.neon.tech): backups dump a branch made for them; PITR makes a branch at a time. */
const NeonSettings = z.strictObject({
  projectId: z
    .string()
    .regex(/^[a-z0-9-]{1,60}$/, { message: 'must be the Neon project id, e.g. shiny-wind-028834 (Settings in the Neon console)' })
    .describe('the Neon project id, from the Neon console (Settings), e.g. `shiny-wind-028834`'),
  apiKeyEnv: envVarName('the Neon API key').default('NEON_API_KEY').describe('environment variable holding the Neon API key'),
  parentBranch: z
    .string()
    .min(1)
    .max(256)
    .optional()
    .meta({ description: 'the branch backups and PITR branches start from: an id (`br-…`) or a name', defaultText: "the project's default branch" }),
  database: z.string().min(1).default('neondb').describe("the database, as in the branch's connection details"),
  role: z.string().min(1).default('neondb_owner').describe('the role that owns the database'),
  // Tests point it at a local stand-in.
  apiUrl: z
    .url({ message: 'must be a URL such as https://console.neon.tech/api/v2' })
    .default('https://console.neon.tech/api/v2')
    .describe("the base URL of Neon's v2 API"),
  branchExpiry: z
    .union([duration('24h').refine((ms) => ms <= 30 * 86_400_000, { message: "Neon caps a branch's expires_at at 30 days: set at most 30d (or false)" }), z.literal(false)])
    .prefault('24h')
    .describe("how long until Neon deletes a backup branch by itself (Neon's `expires_at`), should pgwarden not delete it; at most `30d` (Neon's cap); `false`: never"),
  requestTimeout: duration('30s')
    .prefault('30s')
    .describe("how long one request to Neon's API waits for its answer before it counts as unanswered (a branch asked for and not answered is looked up by name, not asked for again)"),
});
export type NeonSettings = z.output<typeof NeonSettings>;

/** A Supabase project: dumped and restored without Docker, with the platform's own schemas and roles left to it. */
const SupabaseSettings = z.strictObject({
  projectRef: z
    .string()
    .regex(/^[a-z]{20}$/, { message: 'must be the 20-letter project ref, as in db.<ref>.supabase.co' })
    .optional()
    .describe('the 20-letter project ref (as in `db.<ref>.supabase.co`): the connections must belong to it'),
});
export type SupabaseSettings = z.output<typeof SupabaseSettings>;

const repositoryList = z.array(z.string().regex(NAME, { message: 'must name a repository declared under repositories:' })).min(1);

/** What one kind of backup of one database does differently (runbook: pre-migration also goes to S3, kept 90 days). */
const KindSettings = z.strictObject({
  repositories: repositoryList.optional().meta({
    description:
      'where backups of one kind (`daily`, `weekly`, `monthly`, `pre-migration`, `manual`) go instead, each getting a verified copy (runbook: `pre-migration: { repositories: [b2, aws] }`); restores and `backups list` look in every repository of the database',
    defaultText: "the database's",
  }),
  retention: duration('90d').optional().meta({ description: 'how long this database keeps backups of that kind', defaultText: '`retention.<kind>`' }),
});

// Checked here, not first by Temporal at `schedules apply`: a typo fails `config check` and the worker's start.
const cronString = z.string().superRefine((value, ctx) => {
  const problem = cronProblem(value);
  if (problem) ctx.addIssue({ code: 'custom', message: `"${value}" is not a cron string Temporal accepts: ${problem}` });
});
const cron = z.union([cronString, z.literal(false)]).optional();
const backupCron = cron.meta({
  description: 'a cron expression (UTC), or `false` to leave that schedule out (`basebackup` only with `pitr:`)',
  defaultText: "the runbook's times (see `schedules apply`)",
});
const checkCron = cron.meta({
  description: 'restore drill (first day of the month 04:00 UTC), integrity verification (Sundays 06:00 UTC), monitor (every 15 minutes): a cron expression or `false`',
  defaultText: 'the defaults shown',
});
const targetOverride = { description: 'override the targets: `45m`, `4h`, `7d`, `1w`', defaultText: 'from `environment`' };

export const DatabaseSettings = z.strictObject({
  provider: z
    .enum(PROVIDERS, { error: `must be one of ${PROVIDERS.join(', ')}` })
    .default('postgres')
    .describe('`postgres`, `supabase` (see [Supabase](#supabase)) or `neon` (see [Neon](#neon))'),
  // A Neon database is reached through the branches the API makes.
  connection: SecretSource.optional().meta({
    description:
      "`{ env: VAR }` or `{ file: PATH }` holding a `postgresql://` URL; TLS by its `sslmode`, `sslrootcert`, `sslcert`, `sslkey` parameters, with libpq's meaning for every connection (see \"TLS\")",
    defaultText: 'required (not for `neon`)',
  }),
  neon: NeonSettings.optional(),
  supabase: SupabaseSettings.optional(),
  restoreConnection: SecretSource.optional().meta({
    description: 'where restores go, when not the server the backup came from (for example a staging server; its user needs CREATEDB)',
    defaultText: 'the connection',
  }),
  environment: Environment.default('production').describe('`production` (RTO 1 h, RPO 24 h), `staging` (4 h, 1 week), `development` (none)'),
  rto: duration('1h').optional().meta(targetOverride),
  rpo: duration('24h').optional().meta(targetOverride),
  repositories: repositoryList
    .optional()
    .meta({ description: 'where its backups go (each gets a verified copy)', defaultText: 'the only repository' }),
  kinds: z
    .strictObject({
      daily: KindSettings.optional(),
      weekly: KindSettings.optional(),
      monthly: KindSettings.optional(),
      'pre-migration': KindSettings.optional(),
      manual: KindSettings.optional(),
    })
    .optional()
    .meta({ each: '<kind>' }),
  pitr: PitrSettings.optional(),
  // Temporal Schedules (`pgwarden schedules apply`): the defaults are the runbook's (client/schedules.ts).
  schedules: z
    .strictObject({
      daily: backupCron,
      weekly: backupCron,
      monthly: backupCron,
      basebackup: backupCron,
      expire: backupCron,
      drill: checkCron,
      verify: checkCron,
      monitor: checkCron,
    })
    .optional(),
  alerts: DatabaseAlerts.optional().meta({
    description: 'alert thresholds for this database, the same keys as `alerts.minBackupSize` … `.severity`: they override those',
    defaultText: 'the global ones',
  }),
  drill: DrillSettings.optional(),
});

const KEPT = 'how long logical backups of each kind are kept (the newest is always kept)';

export const ConfigSchema = z
  .strictObject({
    temporal: z
      .strictObject({
        address: z.string().min(1).default('localhost:7233').describe('where the worker and CLI find Temporal (host:port)'),
        namespace: z.string().min(1).default('default').describe('the Temporal namespace'),
        taskQueue: z.string().min(1).default('pgwarden').describe("the task queue pgwarden's workflows run on"),
        // Workers that share a disk may share it.
        hostTaskQueue: z
          .string()
          .min(1)
          .optional()
          .meta({
            description:
              "this worker's own task queue: every step of a PITR runs on the worker whose disk holds its data directory (set it when workers that do not share a disk have the same host name)",
            defaultText: '`<taskQueue>@<host name>`',
          }),
        hostWait: duration('30s').prefault('30s').describe('how long a PITR waits for its worker to answer again (a restart) once that worker stopped heartbeating (30 s), before it starts over on another one'),
        outageWait: duration('60s')
          .prefault('60s')
          .describe('how long a command that waits on a workflow (backup, restore, …) rides out a Temporal it cannot reach (a restart, a failover) before it stops waiting with exit code 7; the workflow goes on'),
        apiKeyEnv: envVarName('the Temporal API key').optional().describe('Temporal Cloud API key (env var name); turns TLS on'),
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
          .default(false)
          .describe(
            '`true` (TLS, the system\'s CAs), or for a self-hosted Temporal `{ caFile, certFile, keyFile, serverName }`: the CA of the server\'s certificate, this client\'s certificate and key for mTLS (PEM files; keep the key readable by pgwarden only), the name in the server\'s certificate when `address` is an IP or another name (see "TLS")',
          ),
        ui: z
          .url()
          .optional()
          .meta({
            description: 'Temporal UI address, for links in reports',
            defaultText: '`http://localhost:8233` (the dev server\'s) when `address` is `localhost:7233` (or `127.0.0.1:7233`), else none (no links)',
          }),
      })
      .prefault({}),
    encryption: Encryption,
    backup: z
      .strictObject({
        jobs: z.number().int().min(1).max(32).default(2).describe('parallel dump and restore streams per database (pg_dump/psql processes)'),
        compressionLevel: z
          .number()
          .int()
          .min(-5)
          .max(19)
          .default(1)
          .describe("zstd level: 1 fastest … 19 smallest (level 1 was within 1 % of level 3's size on table data, at half the CPU)"),
        compressionThreads: z.number().int().min(0).max(64).default(1).describe('zstd threads per stream (`0`: one per core)'),
        splitTableMiB: z.number().min(0).default(32).describe('tables at least this large (in MiB) get a stream of their own; smaller ones share one'),
        chunkMiB: z
          .number()
          .min(0)
          .default(128)
          .describe('tables larger than this (in MiB) are cut into block ranges of about this size, dumped and restored in parallel (PostgreSQL 14+; `0` turns it off)'),
      })
      .prefault({}),
    // The runbook's table.
    retention: z
      .strictObject({
        daily: duration('30d').prefault('30d').describe(KEPT),
        weekly: duration('12w').prefault('12w').describe(KEPT),
        monthly: duration('365d').prefault('365d').describe(KEPT),
        'pre-migration': duration('90d').prefault('90d').describe(KEPT),
        manual: duration('30d').prefault('30d').describe(KEPT),
      })
      .prefault({}),
    /** The worker process (pgwarden worker). */
    worker: z
      .strictObject({
        // The default fits `docker stop` (10 s) and Kubernetes (30 s) with time left for clean-up.
        shutdownGraceTime: duration('5s')
          .prefault('5s')
          .describe(
            'on SIGTERM/SIGINT, how long running activities may go on before they are stopped and handed to another worker (see [Running in production](#running-in-production))',
          ),
        maxConcurrentJobs: z
          .number()
          .int()
          .min(1)
          .max(256)
          .optional()
          .meta({
            description:
              "dumps (logical, base backups, copies to further repositories, retention's deletes) one worker runs at once, and as many restores (verification's read-backs count as restores); the rest wait in Temporal's task queue, first come first served, for this or another worker (a restore never waits behind backups)",
            defaultText: "one per CPU core, at most one per 512 MiB of memory beyond 256 MiB (a container's limit counts), at least 1",
          }),
      })
      .prefault({}),
    postgres: z
      .strictObject({
        binDir: z
          .string()
          .optional()
          .meta({ description: 'the directory with pg_dump, pg_restore and psql', defaultText: "found by the server's major version" }),
      })
      .prefault({}),
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
