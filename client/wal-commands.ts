// The arguments of the commands PostgreSQL runs once per WAL segment, declared once: for the full CLI (its help
// lists them) and for their own bundle (commands/wal-entry.ts), which is what actually runs them.
import type { Command } from 'commander';

export function declareWalPush(program: Command): Command {
  return program
    .command('wal-push')
    .description("archive one WAL file: PostgreSQL's archive_command = 'pgwarden wal-push --db NAME --async %p' (never needs Temporal)")
    .argument('<path>', 'the WAL file (%p)')
    .requiredOption('--db <name>', 'database (cluster) name from pgwarden.yaml')
    .option('--async', 'archive ready files ahead, in parallel, from a background pusher (recommended)', false)
    .option('--spool <dir>', 'spool directory for --async (default: $PGWARDEN_SPOOL or ~/.pgwarden/spool of the user PostgreSQL runs as)')
    .option('--wait <seconds>', 'how long to wait for the background pusher before archiving in this process', (v) => Number(v), 60);
}

export function declareWalFetch(program: Command): Command {
  return program
    .command('wal-fetch')
    .description("fetch one WAL file: restore_command = 'pgwarden wal-fetch --db NAME %f %p'; exit 1 = not archived, 126 = error (stops recovery)")
    .argument('<name>', 'the WAL file name (%f)')
    .argument('<path>', 'where to write it (%p)')
    .requiredOption('--db <name>', 'database (cluster) name from pgwarden.yaml')
    .option('--prefetch <n>', 'segments to fetch ahead in the background', (v) => Number(v), 8)
    .option('--spool <dir>', 'spool directory for prefetched segments');
}
