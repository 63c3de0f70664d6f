// Activities of the restore drill (the runbook's monthly verify-backup.sh, done properly): pick the latest backup
// and the drill server, sweep what an interrupted drill left, run the configured assertions against the restored
// copy (rows never leave the worker: counts and hashes only), and remove the drill database or cluster.
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { PgwardenError } from '../../domain/errors.js';
import type { Config } from '../../config/schema.js';
import type { AssertionOutcome, DrillResult } from '../../domain/verify.js';
import { locateBackup } from '../catalog/locate.js';
import { writeReport } from '../catalog/monitor-records.js';
import { serverBinDir } from '../postgres/binaries.js';
import { clusterUser, LocalCluster } from '../postgres/cluster.js';
import { withDatabase, type PgEndpoint } from '../postgres/connection.js';
import { resolveDatabase } from '../database-context.js';
import { runAssertions } from './assertions.js';
import { connectMaintenance, dropDatabase } from '../postgres/load.js';
import { freshProjectDrillActivities, type FreshProjectDrillPlan } from '../providers/supabase-drill.js';
import { sequencePositions } from '../providers/supabase-sequences.js';

/** The marker point-in-time restores leave in data directories they created (the only ones pgwarden deletes). */
const PITR_MARKER = '.pgwarden-restore';

export interface DrillPlan {
  /** host:port of the drill server. */
  server: string;
  /** The drill database: `<database>_pgwdrill_<run>`, dropped at the end. */
  target: string;
  backupId: string;
  /** When the backup's snapshot was taken: the age of the data it restores. */
  backupStartedAt: string;
  pitr: boolean;
  rtoMs?: number;
  rpoMs?: number;
  /** Drill databases an interrupted earlier drill left behind, dropped now. */
  swept: string[];
  /** A Supabase database: drilled in the fresh project, in one transaction rolled back (providers/supabase-drill.ts). */
  freshProject?: FreshProjectDrillPlan;
}

export function drillActivities(config: Config) {
  return {
    ...freshProjectDrillActivities(config),
    async planDrill(input: { database: string; runId: string; pitr?: boolean }): Promise<DrillPlan> {
      const db = resolveDatabase(config, input.database);
      const pitr = input.pitr ?? db.settings.drill?.pitr ?? db.settings.pitr !== undefined;
      if (pitr && !db.settings.pitr) {
        throw new PgwardenError('Usage', `Database "${input.database}" has no WAL archive (no pitr: in pgwarden.yaml): it can only be drilled with a logical restore.`);
      }
      const { manifest: latest, repository } = await locateBackup(config, input.database, 'latest'); // the newest in any of its repositories
      const endpoint = await db.restoreTarget('drill');
      const freshProject = db.settings.provider === 'supabase' ? { repository, sequences: await sequencePositions(endpoint) } : undefined;
      const swept = freshProject ? [] : await sweepDrillDatabases(endpoint, input.database);
      return {
        ...(freshProject ? { freshProject } : {}),
        server: endpoint.display,
        target: freshProject ? endpoint.database : drillDatabaseName(input.database, input.runId),
        backupId: latest.id,
        backupStartedAt: latest.startedAt,
        pitr,
        ...(db.view.rtoMs !== undefined ? { rtoMs: db.view.rtoMs } : {}),
        ...(db.view.rpoMs !== undefined ? { rpoMs: db.view.rpoMs } : {}),
        swept,
      };
    },

    /** Runs the configured assertions against the drill database (logical) or the restored cluster (PITR). */
    async checkDrill(input: { database: string; target?: string; pitrPort?: number }): Promise<{ assertions: AssertionOutcome[] }> {
      const db = resolveDatabase(config, input.database);
      const settings = db.settings.drill;
      const assertions = settings?.assertions ?? [];
      if (assertions.length === 0) return { assertions: [] };
      const source = db.source();
      const drill = input.pitrPort !== undefined ? onLocalPort(source, input.pitrPort) : withDatabase(await db.restoreTarget('drill'), input.target!);
      const timeoutMs = settings?.assertionTimeout ?? 300_000;
      return { assertions: await runAssertions(assertions, drill, source, timeoutMs) };
    },

    /** Clean-up: drops the drill database (and a restore staging database of it). Safe to repeat. */
    async dropDrillDatabase(input: { database: string; target: string }): Promise<{ dropped: string[] }> {
      if (!input.target.includes('_pgwdrill_')) throw new PgwardenError('Failed', `Refusing to drop "${input.target}": not a pgwarden drill database.`);
      const client = await connectMaintenance(await resolveDatabase(config, input.database).restoreTarget('drill'), 'drill cleanup');
      try {
        const { rows } = await client.query<{ datname: string }>(
          `SELECT datname FROM pg_database WHERE datname = $1 OR datname LIKE $2 ORDER BY 1`,
          [input.target, `${likeEscape(input.target.slice(0, 40))}\\_pgwrestore\\_%`],
        );
        for (const { datname } of rows) await dropDatabase(client, datname);
        return { dropped: rows.map((r) => r.datname) };
      } finally {
        await client.end().catch(() => undefined);
      }
    },

    /** Clean-up of a PITR drill: stops the restored cluster and removes its data directory (only one pgwarden made). */
    async discardDrillCluster(input: { database: string; datadir: string }): Promise<{ removed: boolean }> {
      if (!existsSync(join(input.datadir, PITR_MARKER))) return { removed: false };
      const major = Number(readFileSync(join(input.datadir, 'PG_VERSION'), 'utf8').trim());
      const runAs = process.getuid?.() === 0 ? resolveDatabase(config, input.database).settings.pitr?.runAs ?? 'postgres' : undefined;
      const user = runAs ? await clusterUser(runAs) : undefined;
      const cluster = new LocalCluster({ dataDir: input.datadir, binDir: serverBinDir(major, config.postgres.binDir), port: 0, ...(user ? { user } : {}) });
      await cluster.stop('immediate');
      rmSync(input.datadir, { recursive: true, force: true });
      return { removed: true };
    },

    async recordDrill(result: DrillResult): Promise<{ repository?: string }> {
      const repository = await writeReport(config, result.database, 'drill', result);
      return repository ? { repository } : {};
    },
  };
}

/** "<database>_pgwdrill_<8 chars of the run id>": recognisable, unique per run, short enough for a staging suffix. */
export function drillDatabaseName(database: string, runId: string): string {
  return `${database.slice(0, 24)}_pgwdrill_${runId.replace(/-/g, '').slice(0, 8)}`;
}

/** The restored cluster of a PITR drill: the source's user, password and database, on this host's port. */
function onLocalPort(source: PgEndpoint, port: number): PgEndpoint {
  const url = new URL(source.url);
  url.host = `127.0.0.1:${port}`;
  return { url: url.toString(), database: source.database, display: `127.0.0.1:${port}` };
}

function likeEscape(text: string): string {
  return text.replace(/[\\%_]/g, (c) => `\\${c}`);
}

/**
 * Drops drill databases of `database` that an interrupted drill left (a worker killed mid-drill): named like ours
 * and commented by pgwarden's restore as coming from this database. The drill lock means none is in use now.
 */
async function sweepDrillDatabases(endpoint: PgEndpoint, database: string): Promise<string[]> {
  const client = await connectMaintenance(endpoint, 'drill sweep');
  try {
    const { rows } = await client.query<{ datname: string }>(
      `SELECT datname FROM pg_database
        WHERE datname LIKE $1 AND shobj_description(oid, 'pg_database') LIKE $2 ORDER BY 1`,
      [`${likeEscape(database.slice(0, 24))}\\_pgwdrill\\_%`, `Restored by pgwarden from backup % of ${likeEscape(database)} (%`],
    );
    for (const { datname } of rows) await dropDatabase(client, datname);
    return rows.map((r) => r.datname);
  } finally {
    await client.end().catch(() => undefined);
  }
}
