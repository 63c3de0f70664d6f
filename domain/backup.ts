// Logical backups: what starts one, what it reports, and what a failed one leaves to clean up.
import type { BackupKind } from './kinds.js';

/** What a failed backup left in its repositories: its folder is removed unless a manifest made it complete. */
export interface DiscardInput {
  database: string;
  backupId: string;
  repositories: string[];
  type?: 'logical' | 'base';
  /** The failed run: a complete copy whose manifest names it is removed as well (it failed after writing that copy). */
  writtenBy?: { workflowId: string; runId: string };
}

export interface BackupInput {
  /** A database name from pgwarden.yaml; never a URL or a credential. */
  database: string;
  kind: BackupKind;
  /** For pre-migration backups: the migration it was taken before (recorded in the manifest). */
  migrationId?: string;
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
