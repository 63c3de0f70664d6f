// Step 4 of a point-in-time restore: start the restored cluster and follow its recovery (through restore_command)
// until it promotes, feeding WAL ahead into its spool; then step 5, verify that every database opens and that
// recovery did not pass the target.
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { PgwardenError } from '../../domain/errors.js';
import type { Config } from '../../config/schema.js';
import type { Progress } from '../../domain/progress.js';
import { sourceEndpoint } from '../postgres/connection.js';
import { currentReporter, reportEvery } from '../progress.js';
import { epochMicros, type RecoveryTarget } from '../wal/target.js';
import { openArchive } from '../wal/open.js';
import { readArchiveIdentity } from '../wal/archive.js';
import { WalFeeder } from '../wal/feeder.js';
import { lockHeld, RECOVERY_ENDED } from '../wal/spool.js';
import { settleAsPrimary } from './configure.js';
import type { LocalCluster } from '../postgres/cluster.js';
import { restoredCluster, stageDirectory } from './datadir.js';
import { failedEarly, lastRestored, lastTransactionAt, recoveryFailure, segmentsRestored, stopPoint } from './recovery-log.js';
import { secretsEnvironment } from './environment.js';
import { sleep } from '../sleep.js';

export interface RecoverInput {
  database: string;
  datadir: string;
  port: number;
  runAs?: string;
  serverMajor: number;
  target: RecoveryTarget;
  segments: number;
}

export interface RecoverOutput {
  lastTransactionAt?: string;
  stoppedAt?: string; // PostgreSQL's own words: "recovery stopping before commit of transaction 741, time …"
  segmentsRestored: number;
  /** From this activity's start (pg_ctl start) to its end: replay, promotion, settling as a primary, the restart without recovery's secrets. */
  recoveryMs: number;
  /**
   * Part of recoveryMs: until the server first answered as promoted (pg_is_in_recovery() false: it accepts writes),
   * seen by the probe every 100 ms; what follows is settling as a primary and the restart without recovery's secrets.
   * Absent from the results of workers before it. A retry that finds the server promoted already gives its own time.
   */
  promotedMs?: number;
  /** When that was, on this worker's clock (ISO-8601). */
  promotedAt?: string;
}

/** The restored cluster's address with the source's user and password (a restored cluster has the source's roles). */
function restoredUrl(config: Config, database: string, port: number): string {
  const url = new URL(sourceEndpoint(config, database).url);
  url.host = `127.0.0.1:${port}`;
  return url.toString();
}

export async function recoverCluster(config: Config, input: RecoverInput): Promise<RecoverOutput> {
  const started = Date.now();
  const cluster = await restoredCluster(config, input);
  const reporter = currentReporter();
  let restored = 0;
  const stop = reportEvery(reporter, (): Progress => ({
    phase: 'replaying WAL',
    bytesDone: restored * 16 * 1024 * 1024,
    itemsDone: restored,
    itemsTotal: input.segments, // the plan's estimate
    itemsName: 'WAL segments',
  }));
  const log = () => (existsSync(cluster.logFile) ? readFileSync(cluster.logFile, 'utf8') : '');
  const running = () => existsSync(join(input.datadir, 'postmaster.pid'));
  // WAL ahead of recovery, fetched by this activity into the spool restore_command reads first.
  const spool = stageDirectory(input.datadir);
  const archive = openArchive(config, input.database, { spool });
  const segmentSize = (await readArchiveIdentity(archive.repo, input.database))?.segmentSize || 16 * 1024 * 1024;
  const feeder = new WalFeeder(archive.repo, input.database, archive.keys, join(spool, 'in'), segmentSize, (path) => cluster.own(path));
  try {
    // A retry (the worker restarted) finds the server recovering already: it follows it instead of starting it.
    if (!(await cluster.running())) {
      const start = await cluster.run('pg_ctl', ['-D', input.datadir, '-l', cluster.logFile, '-W', '-o', `-p ${input.port}`, 'start'], {
        reject: false,
        env: secretsEnvironment(config, input.database),
      });
      if (start.exitCode !== 0) throw new PgwardenError('Failed', `pg_ctl could not start the restored cluster: ${start.stderr || start.stdout}`);
    }

    const url = restoredUrl(config, input.database, input.port);
    let promoted = 0;
    for (;;) {
      if (reporter.signal?.aborted) throw new PgwardenError('Failed', 'Cancelled during recovery.', { retryable: false });
      const text = log();
      restored = segmentsRestored(text);
      feeder.advance(lastRestored(text));
      if (failedEarly(text) && !running()) throw recoveryFailure(text, input.target);
      const state = await recoveryState(url);
      if (state === 'promoted') {
        promoted = Date.now();
        break;
      }
      if (state === 'down' && !running() && Date.now() - started > 5_000) throw recoveryFailure(text, input.target);
      await sleep(100);
    }
    await feeder.stop();
    rmSync(join(spool, 'keys'), { recursive: true, force: true }); // the WAL data keys placed for recovery
    settleAsPrimary(input.datadir, (path) => cluster.own(path));
    await emptyIncoming(spool);
    await dropSecrets(cluster, input, Object.keys(secretsEnvironment(config, input.database)));
    const text = log();
    const stoppedAt = stopPoint(text);
    const lastTx = lastTransactionAt(text);
    return {
      ...(lastTx ? { lastTransactionAt: lastTx } : {}),
      ...(stoppedAt ? { stoppedAt } : {}),
      segmentsRestored: restored,
      recoveryMs: Date.now() - started,
      promotedMs: promoted - started,
      promotedAt: new Date(promoted).toISOString(),
    };
  } finally {
    stop();
    await feeder.stop();
    await archive.keys.close();
  }
}

/**
 * The WAL fetched ahead of recovery that it never used (past the target): it would stay in the copy's data directory
 * and in every base backup of it. A prefetcher wal-fetch started may still be writing: it is waited for first.
 */
async function emptyIncoming(spool: string): Promise<void> {
  const lock = join(spool, 'prefetch.lock');
  // First the mark, then the wait: a prefetcher started before promotion either holds the lock now (waited for)
  // or takes it later and then sees the mark (it starts detached and may take a while to get there).
  if (existsSync(spool)) writeFileSync(join(spool, RECOVERY_ENDED), `${new Date().toISOString()}\n`);
  for (let waited = 0; lockHeld(lock) && waited < 120_000; waited += 200) await sleep(200);
  const incoming = join(spool, 'in');
  if (!existsSync(incoming)) return;
  for (const file of readdirSync(incoming)) rmSync(join(incoming, file), { recursive: true, force: true });
}

/**
 * The secrets recovery's restore_command needed (repository credentials, a passphrase) stay in a server's
 * environment for its whole life: a copy that archives nothing needs none of them once recovery has ended, so it
 * is restarted without them. One that archives keeps them (its archive_command pushes with them).
 */
async function dropSecrets(cluster: LocalCluster, input: RecoverInput, names: string[]): Promise<void> {
  if (archives(input.datadir) || names.length === 0) return;
  const pid = Number(readFileSync(join(input.datadir, 'postmaster.pid'), 'utf8').split('\n')[0]);
  try {
    const environment = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').map((entry) => entry.slice(0, entry.indexOf('=')));
    if (!names.some((name) => environment.includes(name))) return; // restarted without them already (a retry)
  } catch {
    /* not readable here: restart to be sure */
  }
  const restart = await cluster.run('pg_ctl', ['-D', input.datadir, '-l', cluster.logFile, '-m', 'fast', '-w', '-o', `-p ${input.port}`, 'restart'], { reject: false });
  if (restart.exitCode !== 0) throw new PgwardenError('Failed', `pg_ctl could not restart the restored cluster without the secrets recovery needed: ${restart.stderr || restart.stdout}`);
}

/** Whether the restored cluster archives its WAL (the last archive_mode pgwarden wrote into postgresql.auto.conf). */
function archives(datadir: string): boolean {
  const auto = join(datadir, 'postgresql.auto.conf');
  if (!existsSync(auto)) return false;
  const modes = [...readFileSync(auto, 'utf8').matchAll(/^\s*archive_mode\s*=\s*'?(\w+)/gm)].map((m) => m[1]!.toLowerCase());
  return modes.length > 0 && modes.at(-1) !== 'off';
}

/** Whether the server at `url` is down, recovering or promoted (writable). */
export async function recoveryState(url: string): Promise<'down' | 'recovering' | 'promoted'> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2_000 });
  try {
    await client.connect();
    const { rows } = await client.query<{ r: boolean }>('SELECT pg_is_in_recovery() AS r');
    return rows[0]!.r ? 'recovering' : 'promoted';
  } catch {
    return 'down';
  } finally {
    await client.end().catch(() => undefined);
  }
}

export interface VerifyInput {
  database: string;
  port: number;
  target: RecoveryTarget;
  lastTransactionAt?: string;
}

export interface VerifyOutput {
  timeline: number;
  reachedLsn: string;
  databases: string[];
  /** How long the checks took (absent from the results of workers before it). */
  verifyMs?: number;
}

export async function verifyRestoredCluster(config: Config, input: VerifyInput): Promise<VerifyOutput> {
  const started = Date.now();
  const url = restoredUrl(config, input.database, input.port);
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  let timeline: number;
  let reachedLsn: string;
  let databases: string[];
  try {
    // The current WAL file's name starts with the timeline the promoted cluster writes on.
    const now = (await client.query<{ l: string; f: string }>('SELECT pg_current_wal_lsn()::text AS l, pg_walfile_name(pg_current_wal_lsn()) AS f')).rows[0]!;
    timeline = parseInt(now.f.slice(0, 8), 16);
    reachedLsn = now.l;
    databases = (await client.query<{ d: string }>('SELECT datname AS d FROM pg_database WHERE datallowconn ORDER BY 1')).rows.map((r) => r.d);
  } finally {
    await client.end();
  }
  // Every database opens and answers: the cluster is usable, not just started.
  for (const database of databases) {
    const check = new pg.Client({ connectionString: Object.assign(new URL(url), { pathname: `/${encodeURIComponent(database)}` }).toString() });
    await check.connect();
    await check.query('SELECT count(*) FROM pg_class');
    await check.end();
  }
  if (input.target.kind === 'time' && input.lastTransactionAt && epochMicros(input.lastTransactionAt) > epochMicros(input.target.time)) {
    throw new PgwardenError('Integrity', `Recovery went past the target: the last replayed transaction is from ${input.lastTransactionAt}, after ${input.target.time}.`);
  }
  return { timeline, reachedLsn, databases, verifyMs: Date.now() - started };
}
