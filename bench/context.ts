// What every benchmarked tool gets (the shared servers and data) and gives back (one measurement per operation).
import type { OsUser } from '../activities/postgres/cluster.js';
import type { TestCluster } from '../test/harness/postgres.js';
import type { BenchS3 } from './s3.js';
import type { Cleanup } from './util.js';

/** The WAL archive planning benchmark (bench/archive-listing.ts). */
export interface ArchiveListingOptions {
  segments: number;
  outDir: string;
  tmpDir: string;
}

/** The fleet benchmark (bench/fleet.ts): many databases backed up at once. */
export interface FleetOptions {
  databases: number;
  minMb: number;
  maxMb: number;
  outDir: string;
  tmpDir: string;
  keepTemp: boolean;
}

export interface BenchOptions {
  /** Target size of the benchmark database (pg_database_size) in MB; ignored when `orders` is set. */
  sizeMb: number;
  orders?: number;
  runs: number;
  tools: string[];
  /** pgBackRest repository cipher: aes-256-cbc (default, like the runbook and pgwarden, which both encrypt) or none. */
  pgbackrestCipher: 'aes-256-cbc' | 'none';
  outDir: string;
  /** Where the clusters, the S3 directory and the dumps go (default: the OS temp directory). */
  tmpDir: string;
  keepTemp: boolean;
  /** A git commit whose worker runs the logical rounds too (tool pgwarden-before): before and after in one run. */
  before?: string;
  /** Run the WAL archive planning benchmark (bench/archive-listing.ts) instead. */
  archiveListing?: ArchiveListingOptions;
  /** Run the fleet benchmark (bench/fleet.ts) instead. */
  fleet?: FleetOptions;
  /** Only re-render this results file (no measurements). */
  render?: string;
}

export interface BenchContext {
  options: BenchOptions;
  /** Temp directory of this run (0755: the cluster's OS user must reach below it). */
  root: string;
  /** The OS user clusters and pgBackRest run as when the benchmark runs as root. */
  user?: OsUser;
  /** PostgreSQL server bin directory (pg_dump, psql, pg_ctl …). */
  pgBin: string;
  /** The cluster with the benchmark database (archive_mode=on for pgBackRest). */
  source: TestCluster;
  /** Where logical restores (runbook, pgwarden) create their new database: no WAL archiving, nothing else running. */
  target: TestCluster;
  database: string;
  /** pg_database_size of the benchmark database: the "database MB" of every MB/s. */
  databaseBytes: number;
  s3: BenchS3;
  bucket: string;
  passphrase: string;
  passphraseFile: string;
  /** host:port of the Temporal dev server. */
  temporalAddress: string;
  cleanup: Cleanup;
}

/** "table-restore": one table restored alone from the round's backup (`restore --table`, pgwarden logical only). */
export type Operation = 'backup' | 'restore' | 'table-restore';

export interface Measurement {
  tool: string;
  operation: Operation;
  round: number;
  /** What the operation took, end to end, as a user waits for it. */
  wallMs: number;
  /**
   * Physical restores: from the start until the restored server accepts writes (promoted, pg_is_in_recovery() false),
   * what the PITR comparison uses. pgBackRest's equals its wall time; pgwarden's is before its verification and result.
   * Absent from results files before issue 22.
   */
  writableMs?: number;
  /** Its parts, in milliseconds, in order. */
  phases: Record<string, number>;
  /** Bytes in the repository for this backup (backups only). */
  storedBytes?: number;
  /** VmHWM of the pgwarden worker process (pgwarden rows only). */
  workerPeakRssBytes?: number;
  /** Highest sampled sum of VmRSS over the tool's process tree (pg_dump, zstd, gpg …). */
  treePeakRssBytes?: number;
  /** CPU time (user + system) of the pgwarden worker process itself during the operation (pgwarden rows only). */
  workerCpuMs?: number;
  /** Anything else worth keeping (ids, labels, Temporal's first-byte latency …). */
  notes?: Record<string, string | number | boolean>;
}

/**
 * One row group of the table. Adding a tool is one of these: setup (untimed), then per round its backup and a
 * restore of that backup, each measured; teardown at the end. The rounds of all tools alternate.
 */
export interface BenchTool {
  name: string;
  /** How the report names it. */
  label: string;
  /** Set when the tool cannot be measured yet: the report shows this instead of numbers. */
  pending?: string;
  /** The tool's ratio is computed against these peers (pgwarden rows). */
  comparesTo?: string[];
  setup?(ctx: BenchContext): Promise<void>;
  round(ctx: BenchContext, round: number): Promise<Measurement[]>;
  teardown?(ctx: BenchContext): Promise<void>;
  /** What it does, for the report's notes. */
  describe(ctx: BenchContext): string;
}
