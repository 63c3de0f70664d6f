// The commands PostgreSQL runs: archive_command (wal-push) and restore_command (wal-fetch). They never need
// Temporal (the database must not wait on the orchestrator), and their fast paths load nothing heavy.
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { CLI_ENTRY as CLI } from '../../config/install.js';
import { PgwardenError } from '../../domain/errors.js';
import { awaitPushResult, ensureSpool, knownMissing, lockHeld, sha256Of, spoolDir, startBackground, serveSpooled, servedDirectory, takePushResult, verifiedSpoolFile } from '../../activities/wal/spool.js';
import type { Config } from '../../config/schema.js';
import type { CommandContext } from '../context.js';
import type { Output } from '../output.js';

/** wal-fetch's exit codes, in PostgreSQL's terms: 1 ends recovery normally; above 125 stops it with FATAL. */
export const WAL_FETCH_EXIT = { restored: 0, notArchived: 1, error: 126 } as const;

/**
 * What wal-push and wal-fetch need of their context. The configuration loads when needed (the --async fast path
 * needs none); their own entry point (wal-entry.ts) keeps it validated in the spool, `cacheDir`.
 */
export interface WalCommandContext {
  readonly out: Output;
  readonly configFile: string;
  loadConfig(cacheDir: string): Promise<Config>;
}

export interface WalPushOptions {
  db: string;
  async: boolean;
  spool?: string;
  wait: number; // seconds to wait for the background pusher before pushing in this process
  args: string[];
}

export async function walPushCommand(ctx: WalCommandContext, options: WalPushOptions): Promise<void> {
  const path = options.args[0];
  if (!path) throw new PgwardenError('Usage', 'wal-push needs the path of the WAL file: archive_command = \'pgwarden wal-push --db NAME %p\'');
  const name = basename(path);
  const spool = spoolDir(options.db, options.spool);
  if (options.async) {
    const { out } = ensureSpool(spool);
    // A result counts only for this content: hashed once, when there is a result to check.
    let hash: string | undefined;
    const sha256 = () => (hash ??= sha256Of(readFileSync(path)));
    const early = takePushResult(out, name, sha256);
    if (early?.ok) return; // archived ahead by the background pusher
    if (!lockHeld(join(spool, 'push.lock'))) {
      startBackground(CLI, ['--config', ctx.configFile, 'wal-push-daemon', '--db', options.db, '--pg-wal', resolve(dirname(path)), '--spool', spool], join(spool, 'pusher.log'));
    }
    const result = early ?? (await awaitPushResult(out, name, sha256, options.wait * 1_000));
    if (result?.ok) return;
    if (result) throw new PgwardenError('Failed', result.message);
    // The pusher did not get to it in time: archive it here, so PostgreSQL never waits on us for long.
  }
  ensureSpool(spool);
  const config = await ctx.loadConfig(spool);
  // The segment is read (by Node's thread pool) while the S3 client's code loads.
  const contents = readFile(path);
  contents.catch(() => undefined); // observed by pushWalFile
  const { openArchive } = await import('../../activities/wal/open.js');
  const archive = openArchive(config, options.db, { spool });
  const { pushWalFile } = await import('../../activities/wal/archive.js');
  const outcome = await pushWalFile(archive.repo, options.db, path, archive.settings, archive.keys, {
    identityCache: join(spool, 'identity.json'),
    retainUntil: archive.retainUntil,
    contents,
  });
  if (process.env.PGWARDEN_VERBOSE) ctx.out.info(`wal-push: ${name} ${outcome}`);
}

export async function walPushDaemonCommand(ctx: CommandContext, options: { db: string; pgWal: string; spool: string; concurrency: number }): Promise<void> {
  const { openArchive } = await import('../../activities/wal/open.js');
  const { runPusher } = await import('../../activities/wal/background.js');
  const archive = openArchive(ctx.config, options.db, { spool: options.spool });
  await runPusher({ ...archive, database: options.db, pgWal: options.pgWal, spool: options.spool, concurrency: options.concurrency, idleMs: 10_000 });
}

export interface WalFetchOptions {
  db: string;
  spool?: string;
  prefetch: number;
  args: string[];
}

export async function walFetchCommand(ctx: WalCommandContext, options: WalFetchOptions): Promise<void> {
  const [name, destination] = options.args;
  try {
    if (!name || !destination) throw new PgwardenError('Usage', 'wal-fetch needs %f and %p: restore_command = \'pgwarden wal-fetch --db NAME %f %p\'');
    const spool = spoolDir(options.db, options.spool);
    const { in: incoming } = ensureSpool(spool);
    let found: boolean;
    if (knownMissing(incoming, name)) {
      process.exitCode = WAL_FETCH_EXIT.notArchived; // the prefetcher just looked: the end of the archive
      return;
    }
    const prefetched = verifiedSpoolFile(incoming, name) ?? verifiedSpoolFile(servedDirectory(incoming), name);
    if (prefetched) {
      serveSpooled(incoming, prefetched, destination);
      found = true;
    } else {
      const config = await ctx.loadConfig(spool);
      const { openArchive } = await import('../../activities/wal/open.js');
      const { fetchWalFile } = await import('../../activities/wal/archive.js');
      const archive = openArchive(config, options.db, { spool });
      try {
        found = await fetchWalFile(archive.repo, options.db, name, destination, archive.keys);
      } finally {
        await archive.keys.close();
      }
    }
    if (!found) {
      process.exitCode = WAL_FETCH_EXIT.notArchived;
      return;
    }
    if (options.prefetch > 0 && /^[0-9A-F]{24}$/.test(name) && !lockHeld(join(spool, 'prefetch.lock'))) {
      startBackground(
        CLI,
        ['--config', ctx.configFile, 'wal-prefetch', '--db', options.db, '--after', name, '--count', String(options.prefetch), '--spool', spool],
        join(spool, 'prefetch.log'),
      );
    }
    process.exitCode = WAL_FETCH_EXIT.restored;
  } catch (error) {
    // Anything but "not archived" must stop recovery, not end it early at the wrong point.
    process.stderr.write(`pgwarden wal-fetch ${name ?? ''}: ${(error as Error).message}\n`);
    process.exitCode = WAL_FETCH_EXIT.error;
  }
}

export async function walPrefetchCommand(ctx: CommandContext, options: { db: string; after: string; count: number; spool: string }): Promise<void> {
  const { openArchive } = await import('../../activities/wal/open.js');
  const { runPrefetcher } = await import('../../activities/wal/background.js');
  const archive = openArchive(ctx.config, options.db, { spool: options.spool });
  await runPrefetcher({
    repo: archive.repo,
    database: options.db,
    spool: options.spool,
    keys: archive.keys,
    after: options.after,
    count: options.count,
    concurrency: 4,
  }).finally(() => archive.keys.close());
}
