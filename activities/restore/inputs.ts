// What the restore activities take and return: plain data that passes through the workflow's history.
import type { TableCheck } from '../../domain/restore.js';
import type { SequencePosition } from '../providers/supabase-sequences.js';

export interface PlanRestoreInput {
  database: string;
  backup: string;
  target: string;
  replaceExisting?: string;
  repository?: string;
  /** Makes the staging name unique to this workflow run. */
  runId: string;
  /** 'drill': onto the drill server (drill.connection). */
  server?: 'drill';
}

export interface RestorePlan {
  backupId: string;
  repository: string;
  staging: string;
  targetExists: boolean;
  server: string;
  tables: number;
  storedBytes: number;
  rtoMs?: number;
  /** fresh-project: loaded in one transaction into the existing database of a new Supabase project (no staging, no rename). */
  mode?: 'fresh-project';
  /** fresh-project: where the project's sequences stood before the load (a rollback does not undo setval()). */
  sequences?: SequencePosition[];
  /** What the person restoring should know: newer backups passed over because they are damaged. */
  warnings?: string[];
}

export interface RestoreLogicalInput {
  database: string;
  backupId: string;
  repository: string;
  staging: string;
  noOwner: boolean;
  noPrivileges?: boolean;
  /** Written as the database's comment: where it came from, for whoever finds it later. */
  provenance: string;
  server?: 'drill';
  /** Only these tables (`schema.table`) and the tables of these schemas, with what belongs to them. */
  tables?: string[];
  schemas?: string[];
}

/** Mismatched tables named in a result; the rest are counted. A result enters the workflow history: it must stay
 *  small for a database with 10,000 tables. */
export const MISMATCHES_LISTED = 20;

/** A summary of the row-count check, never one entry per table. */
export interface RestoreLogicalOutput {
  tables: number; // tables checked against the manifest's row counts
  rows: number; // rows they hold
  mismatchedTables: number;
  mismatches: TableCheck[]; // the first MISMATCHES_LISTED of them
  restoreMs: number;
  /** Milliseconds per step of the load ("creating database", "restoring schema", "loading data", …), in order. */
  phasesMs?: Record<string, number>;
  /** What was left out because the target refused it (a Supabase project: a membership of a platform role). */
  warnings?: string[];
  /** A restore of some tables: foreign keys to tables not restored, which could not be made. */
  leftOut?: string[];
}

export interface PublishInput {
  database: string;
  staging: string;
  target: string;
  replaceExisting?: string;
  /** Suffix of the name the replaced database keeps ("20261125T031500Z"). */
  keepSuffix: string;
  server?: 'drill';
  /** The staging database's comment (restoreLogical's provenance): how a retry knows the restored copy by its new name. */
  provenance?: string;
}

