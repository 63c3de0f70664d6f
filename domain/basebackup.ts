// Base backups for point-in-time recovery: what one records about where the WAL starts and stops.

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
