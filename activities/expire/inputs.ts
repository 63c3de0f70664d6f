// What retention decides and the workflow's history records: what goes, what stays, and why.

export interface ExpiryPlan {
  database: string;
  /** Logical backups to delete, per repository, with the rule that expired them. */
  logical: Array<{ repository: string; id: string; kind: string; finishedAt: string; rule: string }>;
  /** Base backups to delete (older than the PITR window and not needed to reach its start). */
  base: Array<{ repository: string; id: string; stopTime: string }>;
  /** WAL files before the oldest kept base backup's start. */
  wal: { repository: string; count: number; bytes: number; first?: string; last?: string; keepFrom?: string; keepFromSegno?: string; segmentSize: number };
  kept: { logical: number; base: number };
  /** Due, but still under S3 Object Lock: skipped now, removed by a later run once their date has passed. */
  locked: Array<{ repository: string; what: string; until?: string }>;
  /** Backups the rules would remove, kept because a restore, drill or PITR is reading them. */
  held: Array<{ repository: string; type: 'logical' | 'base'; id: string; by: string[] }>;
  /** Folders without a manifest whose newest object is older than ABANDONED_AFTER_MS: backups that never finished. */
  abandoned: Array<{ repository: string; type: 'logical' | 'base'; id: string; objects: number; bytes: number; lastWrittenAt: string }>;
  /** Backups whose manifest cannot be used (broken, or from a newer pgwarden): never removed here, only reported. */
  damaged: Array<{ repository: string; type: 'logical' | 'base'; id: string; reason: string }>;
}

/**
 * When a folder without a manifest is certainly not a backup still being written: a dump or copy attempt runs at
 * most 24 h (workflows/policies.ts) and a retried one starts by emptying the folder, so after two days without a
 * new object nothing is coming back for it.
 */
export const ABANDONED_AFTER_MS = 2 * 86_400_000;
