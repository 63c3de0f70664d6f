// Retention: what a run removed, kept, skipped and why.

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
