// ┌──────────────────────────────────────────────────────────────────────────────────────────────────────────┐
// │ PLACEHOLDER: pgwarden base backup + PITR restore to latest.                                                │
// │ `pgwarden basebackup` and `pgwarden pitr` are being built; until they land this row reports "pending".     │
// └──────────────────────────────────────────────────────────────────────────────────────────────────────────┘
//
// To wire it in, fill in `round` below and delete `pending`. Everything it needs is in `ctx` (see context.ts):
//   - ctx.source: the cluster with the benchmark database (archive_mode=on; archive_command is pgBackRest's
//     archive-push while the pgBackRest tool runs: chain pgwarden's own with `&&`, or give this tool a cluster
//     of its own if both archives cannot share it);
//   - ctx.s3 / ctx.bucket: the same S3 server (https; the worker trusts its certificate via NODE_EXTRA_CA_CERTS);
//   - startPgwardenWorker(ctx, dir, taskQueue) from ./pgwarden.ts: a worker in a child process, its pid for
//     memory (resetPeak + RssSampler, as pgwardenLogicalTool does), a Temporal client and the loaded Config.
// The API exists by now in client/api.ts: startBaseBackup(client, config, { database }) → BaseBackupResult
// (storedBytes, copyMs, walWaitMs, firstByteMs) and startPitr(client, config, { database, target: 'latest',
// datadir, port }) → PitrResult (datadir, port, connection), both followed with waitFor; the config needs
// databases.<name>.pitr and archive_command running pgwarden's wal-push (see test/harness/archiving.ts).
// Return two Measurements, { operation: 'backup' } with storedBytes and { operation: 'restore' } with the wall
// time until the restored cluster accepts connections and is promoted, like pgbackrest.ts measures, so the
// report can set them against pgBackRest's rows (comparesTo).
import type { BenchContext, BenchTool, Measurement } from '../context.js';

export function pgwardenPitrTool(): BenchTool {
  return {
    name: 'pgwarden-pitr',
    label: 'pgwarden base backup + PITR',
    comparesTo: ['pgbackrest'],
    pending: 'not measured yet: `pgwarden basebackup` and `pgwarden pitr` are not wired into bench/tools/pgwarden-pitr.ts',
    describe: () => 'pgwarden base backup of the cluster, then a PITR restore to the latest archived WAL into a new data directory, started until writable.',
    async round(_ctx: BenchContext, _round: number): Promise<Measurement[]> {
      throw new Error('pgwarden base backup + PITR is not wired into the benchmark yet (bench/tools/pgwarden-pitr.ts)');
    },
  };
}
