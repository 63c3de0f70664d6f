// The alert rules pgwarden knows and their runbook severities (pure data: config and workflows import it).

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
};
