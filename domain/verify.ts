// Verification of stored backups and restore drills: what was read, what was found, what a drill proved.

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
