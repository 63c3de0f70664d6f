// What verification plans and reports per backup and for the WAL archive: plain data for the workflow's history.
import type { VerifiedBackup, VerifyFinding } from '../../domain/verify.js';

export interface VerifyUnit {
  repository: string;
  type: 'logical' | 'base';
  id: string;
}

export interface VerifyPlan {
  units: VerifyUnit[];
  /** Check the WAL archive (PITR databases). */
  wal: boolean;
  /** Every backup and (where there is one) the WAL archive: only such a run can clear a verification alert. */
  complete: boolean;
  /** Complete logical backups per repository, newest last: to say what still restores. */
  logicalIds: Record<string, string[]>;
  baseIds: string[];
}

export interface BackupCheck {
  backup: VerifiedBackup;
  findings: VerifyFinding[];
  bytesRead: number;
}

export interface WalCheck {
  repository: string;
  segmentsChecked: number;
  findings: VerifyFinding[];
  broken: string[];
}
