// Restoring a logical backup into a new database: what is asked, and what was checked.

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
  /** Repository to read from. Default: all of the database's repositories (the backup wherever it is; the newest for "latest"). */
  repository?: string;
  /** "drill": restore onto the drill server (drill.connection) instead of the restore server. */
  server?: 'drill';
  /** Restore only these tables ("public.orders"), with their sequences, indexes and constraints. */
  tables?: string[];
  /** Restore only the tables of these schemas (with tables: both). */
  schemas?: string[];
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
  /** The restore activity's steps in milliseconds ("loading data", "building indexes and constraints", …). */
  phasesMs?: Record<string, number>;
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
  /** A restore of some tables: the foreign keys to tables it did not restore, left out. */
  leftOut?: string[];
  workflowId: string;
  runId: string;
}
