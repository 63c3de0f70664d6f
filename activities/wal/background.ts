// The background halves of the asynchronous archive commands: a pusher that archives every ready WAL file
// ahead of PostgreSQL's requests, and a prefetcher that fetches the next segments ahead of recovery's.
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Repository } from '../storage/repository.js';
import type { WalArchive } from './open.js';
import type { WalKeys } from '../keys/wal-keys.js';
import { inParallel } from '../progress.js';
import { fetchWalBytes, pushWalFile, readArchiveIdentity } from './archive.js';
import { DEFAULT_SEGMENT_SIZE, parseWalFileName, segmentName } from './names.js';
import { ensureSpool, MISSING, RECOVERY_ENDED, releaseLock, sha256Of, spoolFile, takeLock, writePushResult } from './spool.js';
import { sleep } from '../sleep.js';

export interface PusherOptions extends WalArchive {
  database: string;
  pgWal: string; // absolute path of pg_wal
  spool: string;
  concurrency: number;
  /** Exit after this long without ready files (the next wal-push starts a new pusher). */
  idleMs: number;
}

/** Archives `.ready` files in parallel and leaves a `.ok`/`.error` per file in the spool. One per spool. */
export async function runPusher(options: PusherOptions): Promise<void> {
  const { out } = ensureSpool(options.spool);
  const lock = join(options.spool, 'push.lock');
  if (!takeLock(lock)) return;
  const dataDirectory = join(options.pgWal, '..');
  // Archived by this pusher: wal-push takes the .ok, and PostgreSQL renames .ready to .done only after that; in
  // between the file still looks ready and would be pushed a second time.
  const pushed = new Set<string>();
  try {
    let idleSince = Date.now();
    while (Date.now() - idleSince < options.idleMs) {
      const status = join(options.pgWal, 'archive_status');
      const readyNow = new Set((existsSync(status) ? readdirSync(status) : []).filter((file) => file.endsWith('.ready')).map((file) => file.slice(0, -'.ready'.length)));
      // A result for a file PostgreSQL no longer waits to archive (wal-push archived it itself, or it is gone) is
      // never taken: it goes.
      for (const file of readdirSync(out)) {
        const name = file.replace(/\.(ok|error)(\.tmp)?$/, '');
        if (name !== file && !readyNow.has(name)) rmSync(join(out, file), { force: true });
      }
      for (const name of pushed) if (!readyNow.has(name)) pushed.delete(name);
      const ready = [...readyNow]
        .filter((name) => !pushed.has(name) && !existsSync(join(out, `${name}.ok`)) && !existsSync(join(out, `${name}.error`)))
        .sort((a, b) => Number(b.endsWith('.history')) - Number(a.endsWith('.history')) || a.localeCompare(b))
        .slice(0, 64);
      if (ready.length === 0) {
        await sleep(50);
        continue;
      }
      idleSince = Date.now();
      await inParallel(ready, options.concurrency, async (name) => {
        try {
          await pushWalFile(options.repo, options.database, join(options.pgWal, name), options.settings, options.keys, {
            dataDirectory,
            identityCache: join(options.spool, 'identity.json'),
            retainUntil: options.retainUntil,
          });
          // The result names the content archived: wal-push takes it only for a file with that content.
          writePushResult(out, name, { sha256: sha256Of(readFileSync(join(options.pgWal, name))) });
          pushed.add(name);
        } catch (error) {
          writePushResult(out, name, { error: (error as Error).message });
        }
      });
    }
  } finally {
    releaseLock(lock);
  }
}

export interface PrefetchOptions {
  repo: Repository;
  database: string;
  spool: string;
  keys: WalKeys;
  after: string; // the segment recovery just asked for
  count: number;
  concurrency: number;
}

/** Fetches (and verifies) the `count` segments after `after` on its timeline into the spool. One per spool. */
export async function runPrefetcher(options: PrefetchOptions): Promise<void> {
  const { in: incoming } = ensureSpool(options.spool);
  const lock = join(options.spool, 'prefetch.lock');
  if (!takeLock(lock)) return;
  try {
    // Checked only once the lock is held: the end of recovery marks the spool first and then waits for the lock.
    if (existsSync(join(options.spool, RECOVERY_ENDED))) return;
    const identity = await readArchiveIdentity(options.repo, options.database);
    const segmentSize = identity?.segmentSize || DEFAULT_SEGMENT_SIZE;
    const current = parseWalFileName(options.after, segmentSize);
    if (current?.kind !== 'segment' || current.segno === undefined) return;
    // What recovery has moved past is not needed any more.
    for (const file of readdirSync(incoming)) {
      if ((file <= options.after && !file.endsWith('.history')) || file.includes('.tmp')) rmSync(join(incoming, file), { force: true });
    }
    const next = Array.from({ length: options.count }, (_, i) => segmentName(current.timeline, current.segno! + BigInt(i + 1), segmentSize));
    // At the end of recovery PostgreSQL asks for the next timeline's history file and for the segment after the
    // last one: answering those from the spool saves a process start each.
    const nextHistory = `${(current.timeline + 1).toString(16).toUpperCase().padStart(8, '0')}.history`;
    let endOfArchive = false;
    await inParallel([...next, nextHistory], options.concurrency, async (name) => {
      if (existsSync(join(incoming, name))) return;
      if (endOfArchive && name !== nextHistory) return;
      let bytes: Buffer | undefined;
      try {
        bytes = await fetchWalBytes(options.repo, options.database, name, options.keys);
      } catch {
        if (name !== nextHistory) endOfArchive = true; // unreadable: the foreground fetch will say why
        return;
      }
      if (!bytes) {
        if (name !== nextHistory) endOfArchive = true;
        writeFileSync(join(incoming, `${name}${MISSING}`), new Date().toISOString()); // not archived, as of now
        return;
      }
      spoolFile(incoming, name, bytes);
    });
  } finally {
    releaseLock(lock);
  }
}
