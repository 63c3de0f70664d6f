// Reading archived WAL with pg_waldump, for what the archive listing cannot tell: when the last transaction committed.
import { rmSync, writeFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import type { Repository } from '../storage/repository.js';
import { fetchWalBytes } from '../wal/archive.js';
import { segmentName } from '../wal/names.js';

/** The time of the last commit or abort in the newest archived segments up to `last` (pg_waldump), if any. */
export async function lastCommitTime(
  repo: Repository,
  database: string,
  passphrase: string,
  last: { timeline: number; segno: bigint } | undefined,
  segmentSize: number,
  waldump: string,
): Promise<number | undefined> {
  if (!last) return undefined;
  const dir = await mkdtemp(join(tmpdir(), 'pgwarden-waldump-'));
  try {
    for (let back = 0n; back < 3n && last.segno - back >= 0n; back += 1n) {
      const name = segmentName(last.timeline, last.segno - back, segmentSize);
      const bytes = await fetchWalBytes(repo, database, name, passphrase);
      if (!bytes) return undefined;
      writeFileSync(join(dir, name), bytes);
      const run = await execa(waldump, [join(dir, name)], { reject: false, env: { TZ: 'UTC' } });
      const times = [...run.stdout.matchAll(/desc: (?:COMMIT|ABORT) (\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(?:\.\d+)?) UTC/g)].map((m) => Date.parse(`${m[1]!.replace(' ', 'T')}Z`));
      if (times.length > 0) return Math.max(...times);
    }
    return undefined;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
