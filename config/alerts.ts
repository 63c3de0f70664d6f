// A database's alert thresholds: its own settings over the top-level alerts:, over the runbook's defaults.
import { DEFAULT_MAX_ROW_LOSS, DEFAULT_SEVERITY, type AlertRule } from '../domain/alerts.js';
import type { AlertThresholds } from '../domain/alerts.js';
import { defaultMaxBackupAge } from '../domain/alert-rules.js';
import { databaseView } from './load.js';
import type { Config } from './schema.js';

const KIB = 1_024;
const HOUR = 3_600_000;

export function alertThresholds(config: Config, database: string): AlertThresholds {
  const db = databaseView(config, database);
  const global = config.alerts;
  const own = db.settings.alerts ?? {};
  const pitr = db.settings.pitr;
  /** The database's value, else the global one, else the default; false (at either level) turns the rule off. */
  const pick = <T>(key: 'minBackupSize' | 'maxBackupAge' | 'maxUploadTime' | 'maxWalLag' | 'minRestoreWindow', fallback: T | undefined): number | T | undefined => {
    const value = own[key] !== undefined ? own[key] : global[key];
    if (value === false) return undefined;
    return value ?? fallback;
  };
  const severity = { ...DEFAULT_SEVERITY, ...global.severity, ...own.severity } as Record<AlertRule, AlertThresholds['severity'][AlertRule]>;
  const thresholds: AlertThresholds = { severity, reminderMs: global.reminder, pings: global.healthchecks !== undefined };
  const set = (key: 'minBackupSize' | 'maxBackupAge' | 'maxUploadTime' | 'maxWalLag' | 'minRestoreWindow', value: number | undefined) => {
    if (value !== undefined) thresholds[key] = value;
  };
  set('minBackupSize', pick('minBackupSize', KIB));
  set('maxBackupAge', pick('maxBackupAge', defaultMaxBackupAge(db.rpoMs)));
  set('maxUploadTime', pick('maxUploadTime', HOUR));
  // On unless turned off; the database's settings replace the global ones key by key.
  const rows = own.rowsDropped !== undefined ? own.rowsDropped : global.rowsDropped;
  if (rows !== false) {
    const shared = global.rowsDropped || {};
    const mine = own.rowsDropped || {};
    thresholds.rowsDropped = { maxLoss: mine.maxLoss ?? shared.maxLoss ?? DEFAULT_MAX_ROW_LOSS, ignore: mine.ignore ?? shared.ignore ?? [] };
  }
  if (pitr) {
    set('maxWalLag', pick('maxWalLag', db.rpoMs));
    set('minRestoreWindow', pick('minRestoreWindow', pitr.retention));
  }
  return thresholds;
}
