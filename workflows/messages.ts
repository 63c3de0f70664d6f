// The contract between workflows, the CLI, scripts and the Temporal UI: inputs, results, ids, search attributes.
// Plain data only: this module is bundled into workflows and imported by clients alike.
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';

export const DEFAULT_TASK_QUEUE = 'pgwarden';

export { BACKUP_KINDS, type BackupKind } from './kinds.js';
import type { BackupKind } from './kinds.js';

/** Search attributes: find every run of a database, or of one kind, in the Temporal UI ("PgwardenDatabase='cartly'"). */
export const SEARCH_ATTRIBUTES = {
  database: defineSearchAttributeKey('PgwardenDatabase', SearchAttributeType.KEYWORD),
  kind: defineSearchAttributeKey('PgwardenKind', SearchAttributeType.KEYWORD),
  operation: defineSearchAttributeKey('PgwardenOperation', SearchAttributeType.KEYWORD),
} as const;

/** The Temporal CLI command that adds pgwarden's search attributes to a namespace (`address` when not the default). */
export function searchAttributeCommand(namespace: string, address?: string): string {
  const names = Object.values(SEARCH_ATTRIBUTES).map((key) => `--name ${key.name} --type Keyword`);
  return `temporal operator search-attribute create${address && address !== 'localhost:7233' ? ` --address ${address}` : ''} --namespace ${namespace} ${names.join(' ')}`;
}

/**
 * The task queue of the long jobs of one kind: a worker polls it with its own limit (worker.maxConcurrentJobs), so
 * that many backups at once wait their turn in Temporal instead of crowding one machine, and a restore never
 * waits behind a night of backups.
 */
export function jobTaskQueue(taskQueue: string, kind: 'backups' | 'restores'): string {
  return `${taskQueue}-${kind}`;
}

/** One backup of a database at a time: the id is the lock (Temporal refuses a second running workflow with it). */
export function backupWorkflowId(database: string): string {
  return `pgwarden-backup-${database}`;
}

/** One base backup of a database at a time. */
export function baseBackupWorkflowId(database: string): string {
  return `pgwarden-basebackup-${database}`;
}

/** One point-in-time restore of a database at a time. */
export function pitrWorkflowId(database: string): string {
  return `pgwarden-pitr-${database}`;
}

/** One retention run per database at a time. */
export function expireWorkflowId(database: string): string {
  return `pgwarden-expire-${database}`;
}

/** One restore of a database at a time, whatever its target. */
export function restoreWorkflowId(database: string): string {
  return `pgwarden-restore-${database}`;
}

/** Clean-up of one failed backup that goes on until its repository answers again. */
export function discardWorkflowId(database: string, backupId: string): string {
  return `pgwarden-discard-${database}-${backupId}`;
}

/** What a failed backup left in its repositories: its folder is removed unless a manifest made it complete. */
export interface DiscardInput {
  database: string;
  backupId: string;
  repositories: string[];
  type?: 'logical' | 'base';
}

export interface BackupInput {
  /** A database name from pgwarden.yaml; never a URL or a credential. */
  database: string;
  kind: BackupKind;
  /** For pre-migration backups: the migration it was taken before (recorded in the manifest). */
  migrationId?: string;
}

export interface StoredObjectSummary {
  name: string;
  sha256: string;
  storedBytes: number;
}

export interface BackupResult {
  backupId: string;
  database: string;
  kind: BackupKind;
  migrationId?: string;
  repositories: string[];
  rawBytes: number; // what pg_dump produced
  storedBytes: number; // what the repository holds (compressed + encrypted)
  tables: number;
  rows: number;
  startedAt: string;
  finishedAt: string;
  durationMs: number; // workflow start to manifest written
  dumpMs: number; // the dump activity alone
  /** Workflow start to the first byte pg_dump produced: Temporal's own overhead. */
  firstByteMs?: number;
  /** Neon: the branch the backup was dumped from (the database as of its branch point), and that it is gone. */
  neonBranch?: NeonBackupBranch;
  workflowId: string;
  runId: string;
}

export interface NeonBackupBranch {
  branchId: string;
  branchName: string;
  parentBranchId: string;
  parentLsn?: string;
  parentTimestamp?: string;
  createdAt: string;
  deleted: boolean;
  note?: string;
}

export interface RestoreInput {
  database: string;
  /** A backup id from `pgwarden backups list`, or "latest". */
  backup: string;
  /** The new database to create. It must not exist, unless replaceExisting repeats its name. */
  target: string;
  /** Set to the target's name to replace an existing database; the old one is kept, renamed. */
  replaceExisting?: string;
  /** Restore without ownership (ALTER … OWNER) when the roles do not exist on the target server. */
  noOwner?: boolean;
  /** Restore without privileges (GRANT/REVOKE), which name the source's roles: with noOwner, for a server without them. */
  noPrivileges?: boolean;
  /** Repository to read from (default: the database's first). */
  repository?: string;
  /** "drill": restore onto the drill server (drill.connection) instead of the restore server. */
  server?: 'drill';
}

export interface TableCheck {
  table: string;
  expected: number;
  actual: number;
}

export interface RestoreResult {
  database: string;
  backupId: string;
  target: string;
  server: string; // host:port, never credentials
  durationMs: number; // workflow start to verified database in place
  restoreMs: number; // the restore activity alone
  rtoMs?: number;
  withinRto?: boolean;
  tables: number;
  rows: number;
  rowCountsMatch: boolean;
  mismatches: TableCheck[]; // at most 20 (a summary, never one entry per table: this is workflow history)
  /** When replaceExisting was used: the name the previous database now has. */
  previousDatabaseKeptAs?: string;
  /** What the person restoring should know (a newer backup passed over because it is damaged). */
  warnings?: string[];
  workflowId: string;
  runId: string;
}

/** Heartbeat details of long activities: the CLI and the UI show them as progress. */
export interface Progress {
  phase: string;
  bytesDone: number;
  bytesTotal?: number; // an estimate where the exact size cannot be known up front
  storedBytes?: number;
  itemsDone?: number;
  itemsTotal?: number;
  detail?: string;
}

export interface BaseBackupInput {
  database: string;
}

export interface BaseBackupResult {
  backupId: string;
  database: string;
  repository: string;
  rawBytes: number;
  storedBytes: number;
  startLsn: string;
  stopLsn: string;
  timeline: number;
  startWal: string;
  stopWal: string;
  durationMs: number;
  copyMs: number; // pg_basebackup streaming into the repository
  walWaitMs: number; // waiting until the WAL the backup needs was archived
  workflowId: string;
  runId: string;
}

export interface PitrInput {
  database: string;
  /** ISO-8601 time with zone, an LSN (0/3000028), xid:N, name:POINT, or "latest". */
  target: string;
  /** Data directory to create (default: under the runAs user's home). */
  datadir?: string;
  port?: number;
  /** Base backup to start from (default: the newest that is consistent before the target). */
  backup?: string;
  /** Timeline to recover along (default: the source's current one when it descends from the base backup, else the backup's own). */
  timeline?: number;
  /** Let the restored cluster archive its WAL, under a name of its own beside the source's archive. */
  archive?: boolean;
  /** Archive under this name; the source's own name writes into its archive (for a copy that becomes the new primary). */
  archiveAs?: string;
}

export interface PitrResult {
  database: string;
  target: string;
  baseBackupId: string;
  datadir: string;
  port: number;
  /** How to connect: the source's roles and passwords are the restored cluster's too. */
  connection: string;
  timeline: number;
  lastTransactionAt?: string;
  stoppedAt?: string;
  reachedLsn: string;
  /** The timeline recovery followed, and why (the source's, the base backup's own, asked for). */
  followedTimeline?: { timeline: number; reason: string };
  note?: string;
  /** Where the copy archives its WAL (a database name in the repository), when it does. */
  archivesAs?: string;
  window: { from: string; to: string; fromLsn: string; toLsn: string };
  segmentsRestored: number;
  durationMs: number;
  baseRestoreMs: number;
  recoveryMs: number;
  rtoMs?: number;
  withinRto?: boolean;
  /** The task queue of the worker whose host holds the restored cluster: what comes after the restore (a drill's checks, its removal) goes there. */
  hostTaskQueue?: string;
  /** Data directories of earlier attempts on a worker that stopped answering: removed when it comes back. */
  leftBehind?: Array<{ host: string; datadir: string }>;
  workflowId: string;
  runId: string;
}

/** A Neon point-in-time restore: a branch of the parent at the target, kept until `pgwarden branches delete`. */
export interface NeonPitrResult {
  database: string;
  target: string;
  branchId: string;
  branchName: string;
  parentBranch: string;
  /** postgresql://role@host/db, without the password (the parent branch's role and password apply). */
  connection: string;
  /** Rows per table in the branch: the newest logical backup's tables when there is one, else every table. */
  tables: Array<{ table: string; rows: number }>;
  comparedWith?: string;
  window: { from: string; to: string; retentionSeconds: number };
  durationMs: number;
  rtoMs?: number;
  withinRto?: boolean;
  workflowId: string;
  runId: string;
}

export interface ExpireInput {
  database: string;
  /** Say what would go, delete nothing. */
  dryRun?: boolean;
}

export interface ExpireResult {
  database: string;
  dryRun: boolean;
  logical: Array<{ repository: string; id: string; kind: string; finishedAt: string; rule: string }>;
  base: Array<{ repository: string; id: string; stopTime: string }>;
  wal: { count: number; bytes: number; first?: string; last?: string; keepFrom?: string };
  kept: { logical: number; base: number };
  /** Due, but still under S3 Object Lock: skipped, removed by a later run once their date has passed. */
  locked: Array<{ repository: string; what: string; until?: string }>;
  /** Kept although the rules let them go: a restore, drill or PITR was reading them (`by` says which). */
  held: Array<{ repository: string; type: 'logical' | 'base'; id: string; by: string[] }>;
  /** Folders without a manifest, untouched for two days: backups that never finished, removed with their objects. */
  abandoned: Array<{ repository: string; type: 'logical' | 'base'; id: string; objects: number; bytes: number; lastWrittenAt: string }>;
  /** Backups retention could not read (broken manifest, or one from a newer pgwarden): kept, reported. */
  damaged?: Array<{ repository: string; type: 'logical' | 'base'; id: string; reason: string }>;
  deletedObjects: number;
  /** Neon backup branches left behind and deleted now (or, with dryRun, that would be), and the ones kept. */
  neonBranches?: { deleted: Array<{ id: string; name: string; createdAt: string; reason: string }>; kept: Array<{ id: string; name: string; reason: string }> };
  workflowId: string;
  runId: string;
}

/** One key rotation of a database at a time. */
export function rekeyWorkflowId(database: string): string {
  return `pgwarden-rekey-${database}`;
}

export interface RekeyInput {
  database: string;
}

export interface RekeyResult {
  database: string;
  /** Data keys found (backups in every repository, WAL days). */
  dataKeys: number;
  rewrapped: number;
  /** Already wrapped for exactly the current keys (an earlier or interrupted rekey did them). */
  alreadyCurrent: number;
  /** Removed by retention while the rekey ran. */
  gone: number;
  /** Who the data keys are wrapped for now, in words. */
  wrappedFor: string[];
  /** Backups made before envelope encryption: encrypted with a passphrase itself, nothing to re-wrap. */
  beforeEnvelope: Array<{ repository: string; kind: string; id: string }>;
  walBeforeEnvelope: boolean;
  workflowId: string;
  runId: string;
}

/** What a Temporal Schedule starts: it runs the real workflow under the database's lock id, waiting its turn. */
export interface ScheduledInput {
  database: string;
  operation: 'backup' | 'basebackup' | 'expire' | 'drill' | 'verify' | 'monitor';
  kind?: BackupKind;
}

/** One pre-migration backup per database and migration: the id is what lets a CI retry find the first one's backup. */
export function preMigrationWorkflowId(database: string, migrationId: string): string {
  return `pgwarden-premigration-${database}-${migrationId}`;
}

/** Migration ids as migration tools name them (Prisma 20261125143000_add_index, Knex 20261125_x.js, Flyway V2__x). */
export const MIGRATION_ID = /^[A-Za-z0-9][A-Za-z0-9._:@+-]{0,199}$/;
export const MIGRATION_ID_HINT = 'letters, digits and . _ : @ + - (up to 200, starting with a letter or digit), e.g. 20261125143000_add_index';

/** What the Temporal UI, the CLI and the Node API start: `{ "database": "cartly", "migrationId": "20261125_add_index" }`. */
export interface PreMigrationInput {
  database: string;
  migrationId: string;
  /** Take a new backup even when one exists for this migration (`premigrate --new`). */
  fresh?: boolean;
}

/** The update a migration sends (with start) and that returns once the backup is complete and verified. */
export interface PreMigrationRequest {
  /** The caller runs the migration next and reports its start and end (`premigrate -- COMMAND`). */
  runsMigration?: boolean;
}

export interface PreMigrationBackup {
  backupId: string;
  database: string;
  migrationId: string;
  /** Every repository the kind goes to: the backup is complete and verified (sha256 read back) in each. */
  repositories: string[];
  /** An earlier request for this migration made it: no second dump. */
  reused: boolean;
  storedBytes: number;
  tables: number;
  rows: number;
  /** When the backup began: after the request (or a retry's first request), so everything committed before it is in it. */
  backupStartedAt: string;
  finishedAt: string;
  /** Request to verified backup, of which waitedMs went to waiting for another backup of the database. */
  durationMs: number;
  waitedMs: number;
  workflowId: string;
  runId: string;
  /** With runsMigration: the number to report the migration's start and end under. */
  attempt?: number;
}

export interface MigrationStarted {
  attempt: number;
  /** The program's name only: arguments can hold connection strings with passwords, and histories hold no secrets. */
  command: string;
  host: string;
  startedAt: string;
}

export interface MigrationFinished {
  attempt: number;
  /** The command's exit code; null when a signal ended it. */
  exitCode: number | null;
  signal?: string;
  durationMs: number;
  /** Why it could not start at all (command not found …). */
  error?: string;
}

export interface MigrationRecord {
  attempt: number;
  /** pending: backup handed over, start not reported yet; never started / unknown: no report within the window. */
  outcome: 'pending' | 'running' | 'succeeded' | 'failed' | 'never started' | 'unknown';
  requestedAt: string;
  command?: string;
  host?: string;
  startedAt?: string;
  exitCode?: number | null;
  signal?: string;
  durationMs?: number;
  error?: string;
}

export interface PreMigrationResult extends Omit<PreMigrationBackup, 'attempt'> {
  migrations: MigrationRecord[];
}

export interface PreMigrationStatus {
  phase: string;
  /** The backup workflow that holds the database's lock for this backup, once started: its activities show progress. */
  backupWorkflow?: { workflowId: string; runId: string };
  backup?: PreMigrationBackup;
  migrations: MigrationRecord[];
}

export const preMigrationBackupUpdate = defineUpdate<PreMigrationBackup, [PreMigrationRequest?]>('preMigrationBackup');
export const migrationStartedSignal = defineSignal<[MigrationStarted]>('migrationStarted');
export const migrationFinishedSignal = defineSignal<[MigrationFinished]>('migrationFinished');
export const preMigrationStatusQuery = defineQuery<PreMigrationStatus>('preMigrationStatus');
// ---- Verification, restore drills, monitoring and alerts (issue 10) ----

export type { AlertRule, Severity } from './alert-catalog.js';
import type { AlertRule, Severity } from './alert-catalog.js';

/**
 * Drills and verifications take the backup lock of their database (the backup workflow id): a drill never runs
 * during a backup of the same database, and a backup waits for a drill (scheduled) or is refused (by hand).
 */
export function drillWorkflowId(database: string): string {
  return backupWorkflowId(database);
}

export function verifyWorkflowId(database: string): string {
  return backupWorkflowId(database);
}

/** One monitor run per database at a time. */
export function monitorWorkflowId(database: string): string {
  return `pgwarden-monitor-${database}`;
}

export interface VerifyInput {
  database: string;
  /** A backup id, "latest" (default) or "all": which logical and base backups to read. */
  backup?: string;
  /** Also check that every segment each kept base backup needs is archived and intact. */
  wal?: boolean;
}

/** One thing found wrong, where it is, and what it breaks. */
export interface VerifyFinding {
  repository: string;
  /** The object's key in the repository. */
  object: string;
  problem: 'missing' | 'size' | 'checksum' | 'decrypt' | 'decompress' | 'content' | 'key' | 'manifest' | 'gap';
  detail: string;
}

export interface VerifiedBackup {
  repository: string;
  id: string;
  type: 'logical' | 'base';
  objects: number;
  storedBytes: number;
  ok: boolean;
}

export interface VerifyResult {
  database: string;
  ok: boolean;
  /** Whether this run covered every backup and the WAL archive (only such a run clears a verification alert). */
  complete: boolean;
  backups: VerifiedBackup[];
  wal?: { repository: string; segmentsChecked: number; ok: boolean };
  findings: VerifyFinding[];
  /** In words: the restores that no longer work, and what still does. */
  broken: string[];
  bytesRead: number;
  durationMs: number;
  checkedAt: string;
  workflowId: string;
  runId: string;
}

export interface DrillInput {
  database: string;
  /** Also drill a point-in-time restore to the latest moment (default: from the configuration). */
  pitr?: boolean;
}

export interface AssertionOutcome {
  name: string;
  passed: boolean;
  /** Counts and comparisons only: rows never leave the worker. */
  detail: string;
}

export interface DrillPart {
  type: 'logical' | 'pitr';
  passed: boolean;
  backupId?: string;
  /** The drill database (logical) or data directory (PITR), removed afterwards. */
  target?: string;
  restoreMs?: number;
  rtoMs?: number;
  withinRto?: boolean;
  /** How old the restored data was at the start of the drill (backup snapshot, or last replayed transaction). */
  dataAgeMs?: number;
  rpoMs?: number;
  withinRpo?: boolean;
  tables?: number;
  rows?: number;
  rowCountsMatch?: boolean;
  assertions: AssertionOutcome[];
  error?: string;
  cleanedUp: boolean;
}

export interface DrillResult {
  database: string;
  passed: boolean;
  /** host:port of the drill server, never credentials. */
  server?: string;
  parts: DrillPart[];
  /** Why it failed, in one line (empty when it passed). */
  failures: string[];
  startedAt: string;
  durationMs: number;
  workflowId: string;
  runId: string;
}

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
  severity: Record<AlertRule, Severity>;
  reminderMs: number;
  /** healthchecks pings are configured. */
  pings: boolean;
}

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
  /** Running pgwarden workflows of the database; undefined when Temporal was not asked or did not answer. */
  running?: Array<{ workflowType: string; workflowId: string; runId: string; startedAt: string }>;
  drill?: DrillResult;
  verify?: VerifyResult;
  alerts: AlertState[];
}

export interface MonitorInput {
  database: string;
}

export interface MonitorResult {
  database: string;
  observations: AlertObservation[];
  notifications: number;
}
