// The commands a restored cluster runs: restore_command (staged WAL from the shell, else `pgwarden wal-fetch`) and,
// when asked, archive_command (`pgwarden wal-push`), and the postgresql.conf quoting they need.
import { fileURLToPath } from 'node:url';
import { MISSING } from '../wal/spool.js';

const CLI = fileURLToPath(new URL('../../client/cli.js', import.meta.url));

/** A string setting for postgresql.conf. */
export function confString(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}

/** WAL fetched ahead is a rename away, answered by the shell; anything else starts wal-fetch (which prefetches). */
export function restoreCommand(options: { configFile: string; database: string; spool: string }): string {
  const walFetch = `${process.execPath} ${CLI} --config ${options.configFile} wal-fetch --db ${options.database} --spool ${options.spool} %f "%p"`;
  return `f="${options.spool}/in/%f"; if [ -f "$f" ]; then mv -f "$f" "%p"; elif [ -f "$f${MISSING}" ]; then exit 1; else exec ${walFetch}; fi`;
}

export function archiveCommand(options: { configFile: string; database: string }): string {
  return `${process.execPath} ${CLI} --config ${options.configFile} wal-push --db ${options.database} --async %p`;
}
