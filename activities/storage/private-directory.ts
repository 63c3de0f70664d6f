// Local directories only this OS user may use (spools, the GnuPG home): made with mode 0700, or, when they exist
// already, refused unless they are real directories of this user that nobody else may read or write. Whoever can
// plant a file there could make a WAL segment look archived, feed one into recovery, or configure gpg.
// Node built-ins only: the archive commands PostgreSQL runs must start fast.
import { lstatSync, mkdirSync } from 'node:fs';
import { PgwardenError } from '../../domain/errors.js';

/**
 * Makes `path` (its parent must exist) or checks the one that is there. `what` names it in the error
 * ("WAL spool"), `fix` says what to do instead ("or set --spool to a directory of your own").
 */
export function privateDirectory(path: string, what: string, fix: string): string {
  try {
    mkdirSync(path, { mode: 0o700 });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
  const uid = process.getuid?.();
  const stat = lstatSync(path);
  const refuse = (why: string) =>
    new PgwardenError('Refused', `${what} ${path} ${why}: another local user could plant files in it or read them. Not using it: remove it, ${fix}.`);
  if (stat.isSymbolicLink()) throw refuse('is a symbolic link');
  if (!stat.isDirectory()) throw refuse('is not a directory');
  if (uid !== undefined && stat.uid !== uid) throw refuse(`belongs to uid ${stat.uid}, not to this user (uid ${uid})`);
  if ((stat.mode & 0o077) !== 0) throw refuse(`has mode ${(stat.mode & 0o777).toString(8).padStart(4, '0')}, not 0700`);
  return path;
}
