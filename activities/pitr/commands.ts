// The commands a restored cluster runs: restore_command (staged WAL from the shell when its checksum holds, else
// `pgwarden wal-fetch`) and, when asked, archive_command (`pgwarden wal-push`). They pass through three parsers
// (postgresql.conf, PostgreSQL's %-substitution, /bin/sh): every path is checked and quoted for all three.
import { isAbsolute } from 'node:path';
import { CLI_ENTRY as CLI } from '../../config/install.js';
import { PgwardenError } from '../../domain/errors.js';
import { MISSING } from '../wal/spool.js';

/**
 * Characters a path may have here: letters, digits, space and / . _ - + , : @ = ~. Nothing a shell, pg_ctl's own
 * `sh -c "… -D \"DIR\""`, PostgreSQL's % substitution or its configuration parser gives a meaning to.
 */
const SAFE_PATH = /^[\p{L}\p{N} /._+,:@=~-]+$/u;

/** Refuses a path that is not absolute or has a character outside SAFE_PATH; `what` names it ("--datadir"). */
export function checkPath(path: string, what: string): string {
  if (!isAbsolute(path)) throw new PgwardenError('Usage', `${what} must be an absolute path, not "${path}".`);
  if (!SAFE_PATH.test(path) || path.split('/').includes('..')) {
    const bad = [...path].find((c) => !SAFE_PATH.test(c));
    throw new PgwardenError(
      'Usage',
      `${what} ${JSON.stringify(path)} has ${bad ? `a character (${JSON.stringify(bad)})` : 'a ".." part'} that pgwarden does not put into a command line: ` +
        'use letters, digits, space and / . _ - + , : @ = ~.',
    );
  }
  return path;
}

/** A string setting for postgresql.conf: quotes doubled, backslashes escaped, nothing that ends a line. */
export function confString(value: string): string {
  if (/[\n\r\0]/.test(value)) throw new PgwardenError('Usage', `A setting cannot hold a line break: ${JSON.stringify(value)}.`);
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`;
}

/** One word for /bin/sh. */
export function shellWord(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

function pgwarden(configFile: string): string {
  const [node, cli, config] = [checkPath(process.execPath, 'node'), checkPath(CLI, 'pgwarden'), checkPath(configFile, "the restored cluster's pgwarden.yaml")].map(shellWord);
  return `${node} ${cli} --config ${config}`;
}

/** A database name from pgwarden.yaml (lower-case letters, digits, - and _), as the config schema allows. */
export function checkName(name: string, what: string): string {
  if (!/^[a-z0-9][a-z0-9_-]{0,62}$/.test(name)) {
    throw new PgwardenError('Usage', `${what} ${JSON.stringify(name)} is not a name pgwarden.yaml allows: lower-case letters, digits, - and _, at most 63.`);
  }
  return name;
}

/**
 * WAL staged ahead (checked against the sha256 written beside it) is a rename away, answered by the shell; a file
 * known not to be archived ends recovery; anything else starts wal-fetch (which verifies and prefetches).
 */
export function restoreCommand(options: { configFile: string; database: string; spool: string }): string {
  const incoming = shellWord(`${checkPath(options.spool, 'the spool')}/in`);
  return (
    `in=${incoming}; ` +
    // A staged segment whose checksum holds is moved into place; a hard link to it stays in served/ (the last one
    // only), since PostgreSQL reads the last segment it replayed once more when recovery ends.
    `if [ -f "$in/%f" ] && sha256sum --status -c "$in/%f.sha256" 2>/dev/null; then ` +
    `rm -rf "$in/served"; mkdir "$in/served" && ln "$in/%f" "$in/served/%f" && mv -f "$in/%f.sha256" "$in/served/%f.sha256"; ` +
    `rm -f "$in/%f.sha256"; exec mv -f "$in/%f" "%p"; ` +
    // Asked again: the kept link, while it still matches (PostgreSQL may since have recycled and rewritten its file).
    `elif [ -f "$in/served/%f" ] && echo "$(head -c 64 "$in/served/%f.sha256")  $in/served/%f" | sha256sum --status -c - 2>/dev/null; then exec cp "$in/served/%f" "%p"; ` +
    `elif [ -f "$in/%f${MISSING}" ]; then exit 1; ` +
    // 32 ahead (512 MiB of spool at most): each prefetcher is a process start, and recovery outruns a short one.
    `else exec ${pgwarden(options.configFile)} wal-fetch --db ${checkName(options.database, 'The database')} --spool ${shellWord(options.spool)} --prefetch 32 %f "%p"; fi`
  );
}

/** archive_command of a restored copy that archives: into the archive named `archiveAs`. */
export function archiveCommand(options: { configFile: string; archiveAs: string; spool: string }): string {
  return `exec ${pgwarden(options.configFile)} wal-push --db ${checkName(options.archiveAs, 'The archive name')} --async --spool ${shellWord(checkPath(options.spool, 'the spool'))} %p`;
}
