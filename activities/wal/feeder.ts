// Keeps WAL ahead of a recovering cluster from inside the worker: while recovery replays, the activity that
// watches it fetches (and verifies) the next segments into the restore spool, where restore_command finds them
// with a rename. The worker already holds the repository client and the opened data keys, so no process is
// started per segment; wal-fetch remains the fallback for anything the feeder did not bring.
import { existsSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { WalKeys } from '../keys/wal-keys.js';
import type { Repository } from '../storage/repository.js';
import { fetchWalBytes } from './archive.js';
import { parseWalFileName, segmentName } from './names.js';

export class WalFeeder {
  private readonly inFlight = new Set<string>();
  private next: { timeline: number; segno: bigint } | undefined;
  private ended = false;
  private readonly running = new Set<Promise<void>>();
  fetched = 0;

  constructor(
    private readonly repo: Repository,
    private readonly database: string,
    private readonly keys: WalKeys,
    private readonly incoming: string,
    private readonly segmentSize: number,
    private readonly own: (path: string) => void,
    private readonly ahead = 32,
    private readonly concurrency = 3,
  ) {}

  /** Recovery has restored `lastRestored` (or nothing yet): top the spool up to `ahead` segments beyond it. */
  advance(lastRestored: string | undefined): void {
    if (this.ended) return;
    const present = existsSync(this.incoming) ? readdirSync(this.incoming).filter((f) => /^[0-9A-F]{24}$/.test(f)).sort() : [];
    const highest = [lastRestored, present.at(-1), this.next ? segmentName(this.next.timeline, this.next.segno - 1n, this.segmentSize) : undefined]
      .filter((n): n is string => n !== undefined)
      .sort()
      .at(-1);
    if (!highest) return;
    const parsed = parseWalFileName(highest, this.segmentSize);
    if (parsed?.segno === undefined) return;
    if (!this.next || this.next.timeline !== parsed.timeline || this.next.segno <= parsed.segno) this.next = { timeline: parsed.timeline, segno: parsed.segno + 1n };
    const waiting = present.filter((f) => lastRestored === undefined || f > lastRestored).length;
    while (!this.ended && waiting + this.inFlight.size < this.ahead && this.inFlight.size < this.concurrency) {
      const name = segmentName(this.next.timeline, this.next.segno, this.segmentSize);
      this.next = { timeline: this.next.timeline, segno: this.next.segno + 1n };
      if (present.includes(name)) continue;
      this.inFlight.add(name);
      const job = this.fetch(name).finally(() => {
        this.inFlight.delete(name);
        this.running.delete(job);
      });
      this.running.add(job);
    }
  }

  private async fetch(name: string): Promise<void> {
    try {
      const bytes = await fetchWalBytes(this.repo, this.database, name, this.keys);
      if (!bytes) {
        this.ended = true; // the end of the archive: restore_command (wal-fetch) answers "not archived"
        return;
      }
      const temp = join(this.incoming, `${name}.feed.tmp`);
      writeFileSync(temp, bytes);
      this.own(temp);
      renameSync(temp, join(this.incoming, name));
      this.fetched += 1;
    } catch {
      this.ended = true; // unreadable: wal-fetch meets it in the foreground and stops recovery with the reason
    }
  }

  /** Waits for the fetches under way (the recovery is over). */
  async stop(): Promise<void> {
    this.ended = true;
    await Promise.allSettled([...this.running]);
  }
}
