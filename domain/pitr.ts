// Point-in-time recovery of a self-hosted cluster (from the WAL archive) or of a Neon project (as a branch).

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
  /** From the first attempt's start: a restore that started over on another worker counts its lost attempts too. */
  durationMs: number;
  /** How many attempts it took, when more than one (a worker that stopped answering). */
  attempts?: number;
  baseRestoreMs: number;
  /** Parts of baseRestoreMs, from its start: until the base backup's files were written, until the WAL staged beside them was in. */
  baseFilesMs?: number;
  walStagedMs?: number;
  /** WAL segments fetched while the base backup streamed in (the first of what recovery asks for). */
  walStaged?: number;
  /** Starting the restored server, WAL replay, promotion, and settling it as a primary (a restart without recovery's secrets). */
  recoveryMs: number;
  /** Part of recoveryMs: until the server first answered as promoted (writable). Absent from results of workers before it. */
  promotedMs?: number;
  /** When the restored server first answered as promoted, i.e. accepted writes (the worker's clock, ISO-8601). */
  writableAt?: string;
  /** The checks after recovery: every database opened (absent from results of workers before it). */
  verifyMs?: number;
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
