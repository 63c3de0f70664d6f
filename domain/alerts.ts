// Alerts: the rules pgwarden knows, their runbook severities, and what observations and notifications carry.

/** Every rule; the id is part of PagerDuty's dedup_key (pgwarden/<database>/<rule>), so never rename one. */
export const ALERT_RULES = [
  'backup-failed',
  'backup-too-small',
  'backup-too-old',
  'backup-slow',
  'basebackup-failed',
  'expire-failed',
  'drill-failed',
  'verify-failed',
  'wal-lag',
  'restore-window',
  'repository-unreachable',
  'rows-dropped',
] as const;
export type AlertRule = (typeof ALERT_RULES)[number];

export const SEVERITIES = ['SEV-1', 'SEV-2'] as const;
export type Severity = (typeof SEVERITIES)[number];

/** The runbook's table: a backup under 1 KB is SEV-1, everything else it lists is SEV-2. */
export const DEFAULT_SEVERITY: Record<AlertRule, Severity> = {
  'backup-failed': 'SEV-2',
  'backup-too-small': 'SEV-1',
  'backup-too-old': 'SEV-2',
  'backup-slow': 'SEV-2',
  'basebackup-failed': 'SEV-2',
  'expire-failed': 'SEV-2',
  'drill-failed': 'SEV-2',
  'verify-failed': 'SEV-2',
  'wal-lag': 'SEV-2',
  'restore-window': 'SEV-2',
  'repository-unreachable': 'SEV-2',
  'rows-dropped': 'SEV-2',
};

/** Rules whose truth only a job establishes: the monitor cannot re-check them, so it re-sends them when due. */
export const JOB_RULES: readonly AlertRule[] = ['backup-failed', 'backup-too-small', 'basebackup-failed', 'expire-failed', 'drill-failed', 'verify-failed', 'rows-dropped'];

/** A fact the monitor or a job established about one rule, at one moment. */
export interface AlertObservation {
  rule: AlertRule;
  firing: boolean;
  summary: string;
  /** When it was observed (workflow time); older observations never overwrite newer state. */
  at: string;
  details?: Record<string, string | number | boolean>;
  /** The run the alert is about (Temporal UI link). */
  link?: { workflowId: string; runId: string };
}

/** A rule's stored state (`<database>/monitor/alerts/<rule>.json` in the database's repository). */
export interface AlertState {
  rule: string;
  firing: boolean;
  severity: Severity;
  summary: string;
  since?: string;
  lastSentAt?: string;
  observedAt: string;
  /** Counts triggers and resolves: a notification of an older generation is not sent any more. */
  generation: number;
  details?: Record<string, string | number | boolean>;
  link?: { workflowId: string; runId: string };
}

export interface AlertNotification {
  database: string;
  rule: AlertRule;
  severity: Severity;
  action: 'trigger' | 'remind' | 'resolve';
  summary: string;
  since: string;
  observedAt: string;
  generation: number;
  /** Sent even though the alert state could not be stored (repository unreachable): no generation check. */
  stateless?: boolean;
  details?: Record<string, string | number | boolean>;
  link?: { workflowId: string; runId: string };
}

/** A database's alert thresholds with defaults applied (durations in ms, sizes in bytes; absent = rule off). */
export interface AlertThresholds {
  minBackupSize?: number;
  maxBackupAge?: number;
  maxUploadTime?: number;
  maxWalLag?: number;
  minRestoreWindow?: number;
  /** Silent data loss: each backup's tables against the previous backup of its kind. */
  rowsDropped?: RowsDroppedSettings;
  severity: Record<AlertRule, Severity>;
  reminderMs: number;
  /** healthchecks pings are configured. */
  pings: boolean;
}

/** The rows-dropped rule's settings for one database, defaults applied. */
export interface RowsDroppedSettings {
  /** A table that lost more than this share of its rows (0..1) fires the rule. */
  maxLoss: number;
  /** Tables never judged: qualified names, `*` matches any run of characters ("public.cache_*", "queue.*"). */
  ignore: string[];
}

/** The rows-dropped rule's default: a table that lost more than half its rows. */
export const DEFAULT_MAX_ROW_LOSS = 0.5;

/** How a job ended, as the job-notification interceptor reports it. */
export interface JobOutcome {
  job: string; // daily, weekly, monthly, manual, pre-migration, basebackup, expire, drill, verify
  rule: Extract<AlertRule, 'backup-failed' | 'basebackup-failed' | 'expire-failed' | 'drill-failed' | 'verify-failed'>;
  ok: boolean;
  cancelled?: boolean;
  /** A verification of only some backups: it can raise the alert, not clear it. */
  partial?: boolean;
  error?: string;
  startedAt: string;
  finishedAt: string;
  durationMs: number;
  backupId?: string;
  storedBytes?: number;
  /** The table data the backup holds (rows as dumped, before compression): what the size rule judges. */
  dataBytes?: number;
  /** Rows the backup holds, all tables together (the manifest's counts): none at all is an empty backup. */
  rows?: number;
  workflowId: string;
  runId: string;
}

/** A healthchecks.io ping of one job run. */
export interface JobPing {
  job: string;
  event: 'start' | 'success' | 'fail';
  /** The run's id: healthchecks pairs start and end by it and measures the duration. */
  runId: string;
  durationMs?: number;
  message: string;
}

/** What the notification workflow is asked to do (never anything secret). */
export interface NotifyInput {
  database: string;
  /** Evaluate a job's outcome against the rules (thresholds come from the worker's configuration). */
  outcome?: JobOutcome;
  /** Already-evaluated observations (the monitor's). */
  observations?: AlertObservation[];
  /** Already-decided notifications (the monitor records state itself), and the channels to send them on. */
  notifications?: AlertNotification[];
  channels?: string[];
  ping?: JobPing;
}

/** The stable identity of an alert: one PagerDuty incident per database and rule, however often it fires. */
export function dedupKey(alert: Pick<AlertNotification, 'database' | 'rule'>): string {
  return `pgwarden/${alert.database}/${alert.rule}`;
}

/** "backup-too-old" -> "backup too old". */
export function ruleTitle(rule: string): string {
  return rule.replace(/-/g, ' ');
}
