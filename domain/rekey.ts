// Key rotation: re-wrapping every data key of a database for the keys configured now.

export interface RekeyInput {
  database: string;
}

export interface RekeyResult {
  database: string;
  /** Data keys found (backups in every repository, WAL days). */
  dataKeys: number;
  rewrapped: number;
  /** Already wrapped for exactly the current keys (an earlier or interrupted rekey did them). */
  alreadyCurrent: number;
  /** Removed by retention while the rekey ran. */
  gone: number;
  /** Who the data keys are wrapped for now, in words. */
  wrappedFor: string[];
  /** Backups made before envelope encryption: encrypted with a passphrase itself, nothing to re-wrap. */
  beforeEnvelope: Array<{ repository: string; kind: string; id: string }>;
  walBeforeEnvelope: boolean;
  workflowId: string;
  runId: string;
}
