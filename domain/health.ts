// What the repositories (and Temporal, where it answers) say about one database: status, metrics, monitor.
import type { ChannelHealth } from './alert-ledger.js';
import type { AlertObservation, AlertState } from './alerts.js';
import type { BackupComparison } from './contents.js';
import type { DrillResult, VerifyResult } from './verify.js';

export interface BackupSummary {
  id: string;
  kind: string;
  startedAt: string;
  finishedAt: string;
  storedBytes: number;
  durationMs: number;
}

/** What the repositories (and Temporal, where it answers) say about one database: status, metrics, monitor. */
export interface DatabaseHealth {
  database: string;
  environment: string;
  rpoMs?: number;
  rtoMs?: number;
  checkedAt: string;
  logical: { repository: string; error?: string; newest?: BackupSummary; byKind: Record<string, BackupSummary>; count: number };
  base?: { repository: string; error?: string; newest?: BackupSummary; count: number };
  wal?: {
    repository: string;
    error?: string;
    newest?: string;
    newestAt?: string;
    lagMs?: number;
    window?: { from: string; to: string };
    archiveSince?: string;
    gaps: number;
  };
  /**
   * Running pgwarden workflows of the database (those under its lock ids too, whatever their type); undefined when
   * Temporal was not asked or did not answer. `unserved`: why no worker will ever run it (a typo in the task queue
   * or the type), and `end`, the command that ends it and frees the lock it holds.
   */
  running?: Array<{ workflowType: string; workflowId: string; runId: string; startedAt: string; taskQueue?: string; unserved?: string; end?: string }>;
  drill?: DrillResult;
  verify?: VerifyResult;
  /** The newest backup's tables against the previous backup of its kind (the rows-dropped rule's facts). */
  comparison?: BackupComparison;
  alerts: AlertState[];
  /** Where `alerts` came from: the ledger in Temporal, the copy in a repository, or nowhere (unknown). */
  alertsFrom?: 'temporal' | 'repository' | 'unknown';
  /** Each repository the database uses, and whether it answered. */
  repositories?: Array<{ name: string; readable: boolean; error?: string }>;
  /** Parts that could not be read (their absence above means "unknown", not "never"), with why. */
  unknown?: { drill?: string; verify?: string; alerts?: string };
  /** Channels as the ledger last saw them deliver this database's alerts. */
  channels?: ChannelHealth[];
}

export interface MonitorInput {
  database: string;
}

export interface MonitorResult {
  database: string;
  observations: AlertObservation[];
  notifications: number;
}
