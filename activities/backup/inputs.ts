// What the logical backup activities take and return: plain data that passes through the workflow's history.
import type { Provider } from '../../config/schema.js';
import type { BackupKind } from '../../domain/kinds.js';
import type { NeonDumpSource } from '../providers/neon/backup-branch.js';

export interface DumpLogicalInput {
  database: string;
  backupId: string;
  kind: BackupKind;
  /** Pre-migration backups: the migration it precedes, written into the manifest. */
  migrationId?: string;
  /** The audit link written into the manifest. */
  workflow: { namespace: string; workflowId: string; runId: string; startedAtMs: number };
  /** Neon: the branch made for this backup; the dump fetches its connection from the API by these ids. */
  neon?: NeonDumpSource;
  /**
   * The repository prepareBackup chose (carried in history), so a worker whose configuration changed since cannot
   * dump somewhere the copies and the clean-up do not look. Absent in runs started before it was carried.
   */
  repository?: string;
}

export interface DumpLogicalOutput {
  backupId: string;
  repository: string;
  rawBytes: number;
  storedBytes: number;
  tables: number;
  rows: number;
  dumpMs: number;
  firstByteMs?: number;
}

export interface PreparedBackup {
  repositories: string[];
  serverVersion: string;
  provider: Provider;
}
