// What a user tries instead of pgwarden for a logical backup: `pg_dump -Fd -j N` into a directory on the local disk
// and `pg_restore -j N` from it (pg_dump's default compression, gzip; no encryption, no checksums, no upload).
// N is pgwarden's own number of streams (backup.jobs), so both get the same parallelism.
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { libpqEnv, pgEndpoint } from '../../activities/postgres/connection.js';
import type { BenchContext, BenchTool, Measurement } from '../context.js';
import { timedStep as step } from '../rss.js';
import { dirSize, now } from '../util.js';

/** pgwarden's default backup.jobs. */
export const PGDUMP_JOBS = 2;

export function pgdumpDirTool(): BenchTool {
  let dir = '';

  return {
    name: 'pgdump-dir',
    label: `pg_dump -Fd -j ${PGDUMP_JOBS} / pg_restore -j ${PGDUMP_JOBS}`,
    describe: () =>
      `pg_dump -Fd -j ${PGDUMP_JOBS} into a directory on the local disk (pg_dump's default compression: gzip), nothing encrypted, checksummed ` +
      `or uploaded. Restore: CREATE DATABASE, pg_restore -j ${PGDUMP_JOBS} from that directory into the restore cluster (no ANALYZE, no verification).`,

    async setup(ctx) {
      dir = mkdtempSync(join(ctx.root, 'pgdump-dir-'));
    },

    async round(ctx, round): Promise<Measurement[]> {
      const out = join(dir, `r${round}`);
      const backupStart = now();
      const dump = await step(
        execa(`${ctx.pgBin}/pg_dump`, ['-Fd', `-j${PGDUMP_JOBS}`, '-f', out], {
          env: libpqEnv(pgEndpoint(ctx.source.url(ctx.database), 'pg_dump -Fd')),
          reject: false,
          stdin: 'ignore',
        }),
        'pg_dump -Fd',
      );
      const backupMs = now() - backupStart;
      const storedBytes = dirSize(out);
      const backup: Measurement = {
        tool: 'pgdump-dir',
        operation: 'backup',
        round,
        wallMs: backupMs,
        phases: { [`pg_dump -Fd -j ${PGDUMP_JOBS}`]: dump.ms },
        storedBytes,
        treePeakRssBytes: dump.treePeak,
      };

      const target = `${ctx.database}_pgdump_r${round}`;
      const env = libpqEnv(pgEndpoint(ctx.target.url('postgres'), 'pg_restore'));
      const restoreStart = now();
      const load = await step(
        execa('bash', ['-c', '"$PSQL" -X -q -v ON_ERROR_STOP=1 -d postgres -c "CREATE DATABASE $TARGET" && "$PG_RESTORE" --exit-on-error -j "$JOBS" -d "$TARGET" "$IN"'], {
          env: { ...env, PSQL: `${ctx.pgBin}/psql`, PG_RESTORE: `${ctx.pgBin}/pg_restore`, JOBS: String(PGDUMP_JOBS), IN: out, TARGET: target },
          reject: false,
          stdin: 'ignore',
        }),
        'pg_restore -j',
      );
      const restoreMs = now() - restoreStart;
      rmSync(out, { recursive: true, force: true });
      await ctx.target.query('postgres', `DROP DATABASE IF EXISTS ${target} WITH (FORCE)`);
      const restore: Measurement = {
        tool: 'pgdump-dir',
        operation: 'restore',
        round,
        wallMs: restoreMs,
        phases: { [`createdb, pg_restore -j ${PGDUMP_JOBS}`]: load.ms },
        treePeakRssBytes: load.treePeak,
      };
      return [backup, restore];
    },

    async teardown() {
      if (dir) rmSync(dir, { recursive: true, force: true });
    },
  };
}
