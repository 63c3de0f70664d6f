// The parts of pgwarden.yaml that watch the backups: alert thresholds, notification channels, restore drills.
// Secrets (webhook URLs, routing keys, ping keys) are always the NAME of an environment variable.
import { z } from 'zod';
import { ALERT_RULES, SEVERITIES } from '../domain/alerts.js';
import { parseDuration } from './duration.js';

const ENV_VAR = /^[A-Za-z_][A-Za-z0-9_]*$/;
const envVarName = (what: string) =>
  z.string().regex(ENV_VAR, { message: `must be the NAME of an environment variable that holds ${what}, never the value itself` });

const durationMs = (example: string) =>
  z.union([z.string(), z.number()]).transform((value, ctx) => {
    const ms = typeof value === 'number' ? value * 1_000 : parseDuration(value);
    if (ms === undefined || ms <= 0) {
      ctx.addIssue({ code: 'custom', message: `"${value}" is not a duration: write it like "${example}" (units s, m, h, d, w)` });
      return z.NEVER;
    }
    return ms;
  });

const SIZE_UNITS: Record<string, number> = { b: 1, kb: 1_000, kib: 1_024, mb: 1_000_000, mib: 1_048_576, gb: 1_000_000_000, gib: 1_073_741_824 };

/** "1KiB", "512 B", "2MB" -> bytes; undefined if it is not a size. */
export function parseSize(text: string): number | undefined {
  const match = /^(\d+(?:\.\d+)?)\s*([kmg]i?b|b)?$/i.exec(text.trim());
  if (!match) return undefined;
  return Math.round(Number(match[1]) * SIZE_UNITS[(match[2] ?? 'b').toLowerCase()]!);
}

const sizeBytes = z.union([z.string(), z.number()]).transform((value, ctx) => {
  const bytes = typeof value === 'number' ? value : parseSize(value);
  if (bytes === undefined || bytes < 0) {
    ctx.addIssue({ code: 'custom', message: `"${value}" is not a size: write it like "1KiB", "500KB" or "2MiB"` });
    return z.NEVER;
  }
  return bytes;
});

/** A share of a table's rows: "50%" or 0.5. */
const share = z.union([z.string(), z.number()]).transform((value, ctx) => {
  const text = typeof value === 'number' ? undefined : /^\s*(\d+(?:\.\d+)?)\s*%\s*$/.exec(value);
  const n = typeof value === 'number' ? value : text ? Number(text[1]) / 100 : NaN;
  if (!(n > 0 && n < 1)) {
    ctx.addIssue({ code: 'custom', message: `"${value}" is not a share of rows between 0 and 100 %: write it like "50%" or 0.5` });
    return z.NEVER;
  }
  return n;
});

/** A threshold, or false to turn the rule off. */
const orOff = <T extends z.ZodType>(schema: T) => z.union([z.literal(false), schema]);

export const Severity = z.enum(SEVERITIES, { error: 'must be SEV-1 or SEV-2' });
export { ALERT_RULES, DEFAULT_SEVERITY, type AlertRule } from '../domain/alerts.js';

/** README.md's row for the thresholds, whose defaults (config/alerts.ts) the README's alert table lists. */
const threshold = {
  description: 'alert thresholds (each `false` turns its rule off); `databases.<name>.alerts` overrides them per database',
  defaultText: "the runbook's (see [Monitoring and restore drills](#monitoring-and-restore-drills))",
};

/** Thresholds: the same keys globally (alerts:) and per database (databases.<name>.alerts:), which wins. */
const thresholdShape = {
  /** A backup holding less table data than this (runbook: a backup file < 1 KB, SEV-1): empty, wrong database, cut short. */
  minBackupSize: orOff(sizeBytes).optional().meta(threshold),
  /** The newest logical backup is older than this (runbook: 26 h in production; default RPO + 2 h elsewhere). */
  maxBackupAge: orOff(durationMs('26h')).optional().meta(threshold),
  /** A backup (dump and upload) running or having run longer than this (runbook: 1 h). */
  maxUploadTime: orOff(durationMs('1h')).optional().meta(threshold),
  /** PITR: the newest archived WAL is older than this while the server has written more (default: the RPO). */
  maxWalLag: orOff(durationMs('24h')).optional().meta(threshold),
  /** PITR: the restore window is shorter than this (default: pitr.retention). */
  minRestoreWindow: orOff(durationMs('7d')).optional().meta(threshold),
  /** Silent data loss: a table that lost more than `maxLoss` of its rows since the previous backup of its kind, or vanished. */
  rowsDropped: orOff(
    z.strictObject({
      maxLoss: share.optional().describe('a table that lost more than this share of its rows fires rows-dropped ("50%" or 0.5; default 50%)'),
      ignore: z.array(z.string().min(1)).optional().describe('tables never judged, as "schema.table"; `*` matches anything ("public.cache_*")'),
    }),
  )
    .optional()
    .meta(threshold),
  /** Per rule: SEV-1 or SEV-2 instead of the runbook's. */
  severity: z.partialRecord(z.enum(ALERT_RULES, { error: `must be one of ${ALERT_RULES.join(', ')}` }), Severity).optional().meta(threshold),
};

export const DatabaseAlerts = z.strictObject(thresholdShape);

const minSeverity = Severity.default('SEV-2').describe('`SEV-1`: only SEV-1 alerts go to this channel; `SEV-2`: all alerts');

// Where alerts go: always the names of environment variables that hold the secrets.
export const AlertChannels = {
  slack: z
    .strictObject({
      // The webhook URL is the secret.
      webhookUrlEnv: envVarName('the Slack incoming-webhook URL').describe('Slack: environment variable holding the incoming-webhook URL'),
      minSeverity,
    })
    .optional(),
  pagerduty: z
    .strictObject({
      routingKeyEnv: envVarName('the PagerDuty routing (integration) key').describe("PagerDuty (Events API v2): environment variable holding the integration's routing key"),
      url: z.url().default('https://events.pagerduty.com/v2/enqueue').describe('the PagerDuty Events API address'),
      minSeverity,
    })
    .optional(),
  webhook: z
    .strictObject({
      urlEnv: envVarName('the webhook URL').describe('any HTTP endpoint that takes a JSON body: environment variable holding its URL'),
      authorizationEnv: envVarName('the Authorization header value').optional().describe('environment variable holding an Authorization header value'),
      minSeverity,
    })
    .optional(),
  // <baseUrl>/<ping key>/<database>-<job>
  healthchecks: z
    .strictObject({
      pingKeyEnv: envVarName('the healthchecks project ping key').describe('healthchecks.io pings per job (start, success, fail): environment variable holding the project ping key'),
      baseUrl: z.url().default('https://hc-ping.com').describe('the healthchecks.io ping address (self-hosted: your URL)'),
    })
    .optional(),
};

export const AlertSettings = z
  .strictObject({
    ...thresholdShape,
    // Never every monitor run.
    reminder: durationMs('4h').prefault('4h').describe('an alert that stays true is sent again after this long'),
    ...AlertChannels,
  })
  .prefault({});
export type AlertSettings = z.output<typeof AlertSettings>;

const identifier = /^[A-Za-z_][A-Za-z0-9_$]*(\.[A-Za-z_][A-Za-z0-9_$]*)?$/;

/** A restore drill's check: a query on the drill database and what its result must be. */
export const DrillAssertion = z
  .strictObject({
    name: z.string().min(1).optional(),
    /** A read-only query. Its rows never leave the worker: only counts and a hash go into reports. */
    sql: z.string().min(1).optional(),
    /** Shorthand for SELECT count(*) FROM <table>. */
    table: z.string().regex(identifier, { message: 'must be a table name such as orders or public.orders' }).optional(),
    /** The query returns at least this many rows (with table: the table has at least this many rows). */
    minRows: z.number().int().min(0).optional(),
    /** The query returns the same rows on the drill database as on the source (compared order-insensitively). */
    equalsSource: z.literal(true).optional(),
  })
  .superRefine((a, ctx) => {
    if ((a.sql === undefined) === (a.table === undefined)) ctx.addIssue({ code: 'custom', message: 'give either sql: or table:' });
    if ((a.minRows === undefined) === (a.equalsSource === undefined)) ctx.addIssue({ code: 'custom', message: 'give either minRows: N or equalsSource: true' });
  });
export type DrillAssertion = z.output<typeof DrillAssertion>;

export const DrillSettings = z.strictObject({
  connection: z
    .union([z.strictObject({ env: envVarName('the value') }), z.strictObject({ file: z.string().min(1) })], {
      error: 'must be { env: VAR_NAME } or { file: /path/to/secret }',
    })
    .optional()
    .meta({ description: 'the drill server (runbook: staging)', defaultText: '`restoreConnection`, else `connection`' }),
  pitr: z.boolean().optional().meta({ description: 'also drill a point-in-time restore to the latest moment', defaultText: 'when `pitr:` is set' }),
  assertions: z
    .array(DrillAssertion)
    .default([])
    .describe('what a restored copy must satisfy (see [Monitoring and restore drills](#monitoring-and-restore-drills))'),
  assertionTimeout: durationMs('5m').prefault('5m').describe('the longest any one assertion may run'),
});
export type DrillSettings = z.output<typeof DrillSettings>;
