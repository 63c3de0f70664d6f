// The SQL a Supabase load runs: the archive as statements a non-superuser may run, row-count checks, and why a load failed.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { PgwardenError } from '../../domain/errors.js';
import type { BackupManifest } from '../catalog/manifest.js';
import type { PgEndpoint } from '../postgres/connection.js';
import { toolFailure } from '../postgres/dump.js';
import { explainLoadFailure } from '../postgres/load.js';
import { matchesPattern, SUPABASE_MANAGED_SCHEMAS, SUPABASE_RESERVED_ROLES } from './supabase.js';

/**
 * Why psql stopped. A broken connection or a killed psql may be retried; a statement the project refused will be
 * refused again, so the failure is final and says which statement it was and what would get past it.
 */
export function loadFailure(stderr: string, code: number | null, backupId: string, target: PgEndpoint, options: { noOwner?: boolean; noPrivileges?: boolean }): PgwardenError {
  const tail = stderr.trim().split('\n').slice(-6).join('\n  ');
  const general = explainLoadFailure('psql', `backup ${backupId} into "${target.database}"`, stderr, code);
  if (general.retryable) return new PgwardenError('Failed', `psql stopped loading backup ${backupId} into "${target.database}" (exit ${code}); nothing was committed:\n  ${tail}`);
  // psql's report of the error: ERROR, then DETAIL/HINT/CONTEXT, then (-b) STATEMENT and the statement's lines.
  const all = stderr.split('\n').map((l) => l.replace(/^psql:\S*:\d+: /, ''));
  let errorAt = all.length - 1;
  while (errorAt > 0 && !/^ERROR:\s/.test(all[errorAt]!)) errorAt -= 1;
  const report = all.slice(Math.max(errorAt, 0));
  const error = report[0]!.replace(/^ERROR:\s+/, '');
  const details = report.slice(1).filter((l) => /^(DETAIL|HINT|CONTEXT):/.test(l));
  const statementAt = report.findIndex((l) => /^STATEMENT:/.test(l));
  const statement = statementAt < 0 ? '' : report.slice(statementAt).join('\n').replace(/^STATEMENT:\s+/, '').trim();
  if (error.startsWith('pgwarden: ')) return new PgwardenError('Integrity', error.slice('pgwarden: '.length), { retryable: false }); // a check of ours
  const shown = statement.length > 600 ? `${statement.slice(0, 600)} …` : statement;
  return new PgwardenError(
    'Failed',
    `The project at ${target.display} refused a statement of backup ${backupId}: ${error}\n` +
      (details.length ? `  ${details.slice(0, 3).join('\n  ')}\n` : '') +
      (shown ? `  statement: ${shown.split('\n').join('\n    ')}\n` : '') +
      `${supabaseLoadHint(error, statement, options)} Nothing was committed, and the restore was not retried: the same statement would be refused again.`,
    { retryable: false },
  );
}

/** What gets a refused statement through, in a Supabase project. */
function supabaseLoadHint(error: string, statement: string, options: { noOwner?: boolean; noPrivileges?: boolean }): string {
  const role = /role "([^"]+)" does not exist/.exec(error)?.[1];
  if (/\bOWNER TO\b/.test(statement) && !options.noOwner) {
    return 'The backup gives this object an owner that the project\'s postgres role cannot give it there (only a superuser can, in the order pg_dump writes): restore with --no-owner, and everything belongs to postgres.';
  }
  if (/^(GRANT|REVOKE)\b/.test(statement) && !options.noPrivileges) {
    return `The project's postgres role may not set this privilege${role ? ` (role "${role}" does not exist there)` : ''}: restore with --no-privileges (objects then get the project's default privileges), or make it possible in the project first.`;
  }
  if (role) return `Create role "${role}" in the project first (the SQL editor runs as postgres), then restore again.`;
  if (/already exists/.test(error)) return 'The project already has this object: restore into a new project in which nothing was made yet.';
  if (/extension/i.test(error)) return 'Enable the extension in the project first (dashboard: Database → Extensions), then restore again.';
  if (/permission denied|must be owner|must be member|must have admin option/.test(error)) {
    return 'The project\'s postgres role lacks a privilege this statement needs: grant it in the project (to postgres; on what the platform owns, ask Supabase support), then restore again.';
  }
  return 'The project refused this statement as it is: change the project (or the backup\'s source) so that it is accepted, then restore again.';
}

/**
 * A schema archive (custom format) as SQL a non-superuser may run in the project: without what the platform owns
 * or what only a superuser may do, as the Supabase CLI's dump_schema.sh leaves them out: event triggers, the
 * realtime publication itself (its tables are kept: the user put them in it), comments on extensions, default
 * privileges and ownership of the platform's roles, and privileges on objects that the platform or an extension
 * owns (GRANT … ON FUNCTION extensions.armor(bytea) TO postgres WITH GRANT OPTION: the new project grants its own).
 */
export async function archiveToSql(pgRestore: string, archive: Buffer, options: { noOwner?: boolean; noPrivileges?: boolean }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'pgwarden-supabase-'));
  try {
    const file = join(dir, 'schema.pgdump');
    await writeFile(file, archive, { mode: 0o600 });
    const toc = (await execa(pgRestore, ['-l', file])).stdout;
    const kept = toc.split('\n').filter((line) => line.startsWith(';') || line.trim() === '' || keepTocEntry(line));
    const list = join(dir, 'schema.list');
    await writeFile(list, kept.join('\n'));
    const flags = [...(options.noOwner ? ['--no-owner'] : []), ...(options.noPrivileges ? ['--no-privileges'] : [])];
    const sql = (await execa(pgRestore, ['-L', list, ...flags, '-f', '-', file], { maxBuffer: 512 * 1024 * 1024 })).stdout;
    return `${sql
      .split('\n')
      .map((line) => {
        const owner = /^ALTER .+ OWNER TO "?([^";]+)"?;$/.exec(line);
        return owner && owner[1] !== 'postgres' && matchesPattern(owner[1]!, SUPABASE_RESERVED_ROLES) ? `-- pgwarden: the platform's: ${line}` : line;
      })
      .join('\n')}\n`;
  } catch (error) {
    throw toolFailure('pg_restore (schema to SQL)', 'the backup', error);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Whether an entry of pg_restore -l ("<id>; <oid> <oid> <type> <schema> <name…> <owner>") is the user's to restore. */
export function keepTocEntry(line: string): boolean {
  if (/ PUBLICATION TABLE /.test(line)) return / PUBLICATION TABLE \S+ supabase_realtime /.test(line);
  if (/ (EVENT TRIGGER|PUBLICATION|PUBLICATION TABLES IN SCHEMA|COMMENT - EXTENSION) /.test(line)) return false;
  if (/ DEFAULT ACL /.test(line)) return !reservedOwner(line);
  const acl = /^\d+; \d+ \d+ ACL (\S+) /.exec(line);
  if (acl) return !reservedOwner(line) && (acl[1] === '-' || !matchesPattern(acl[1]!, SUPABASE_MANAGED_SCHEMAS));
  return true;
}

function reservedOwner(tocLine: string): boolean {
  const owner = tocLine.trim().split(/\s+/).at(-1) ?? '';
  return owner !== 'postgres' && matchesPattern(owner, SUPABASE_RESERVED_ROLES);
}

/**
 * A project's postgres role has default privileges (GRANT ALL ON TABLES TO anon, authenticated, service_role): every
 * table the restore creates would get them, and pg_dump's GRANTs only add to an object's privileges, so a privilege
 * the user had revoked (REVOKE DELETE ON todos FROM anon) would come back. They are set aside while the schema
 * loads (every object then gets exactly the grants of the backup) and put back afterwards, in the same transaction.
 */
export const SUSPEND_DEFAULT_PRIVILEGES = `
CREATE TEMP TABLE pgwarden_default_acl ON COMMIT DROP AS
  SELECT d.defaclnamespace::regnamespace::text AS schema, d.defaclobjtype AS objtype, a.grantee, a.privilege_type, a.is_grantable
    FROM pg_default_acl d CROSS JOIN LATERAL aclexplode(d.defaclacl) a
   WHERE d.defaclrole = current_user::regrole AND a.grantee <> d.defaclrole;
DO $pgwarden$ DECLARE r record; BEGIN
  FOR r IN SELECT DISTINCT schema, objtype, grantee FROM pgwarden_default_acl LOOP
    EXECUTE format('ALTER DEFAULT PRIVILEGES FOR ROLE %I %s REVOKE ALL ON %s FROM %s', current_user,
      CASE WHEN r.schema = '-' THEN '' ELSE format('IN SCHEMA %I', r.schema) END,
      CASE r.objtype WHEN 'r' THEN 'TABLES' WHEN 'S' THEN 'SEQUENCES' WHEN 'f' THEN 'FUNCTIONS' WHEN 'T' THEN 'TYPES' ELSE 'SCHEMAS' END,
      CASE WHEN r.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(r.grantee::regrole::text) END);
  END LOOP;
END $pgwarden$;
`;

export const RESUME_DEFAULT_PRIVILEGES = `
DO $pgwarden$ DECLARE r record; BEGIN
  FOR r IN SELECT * FROM pgwarden_default_acl LOOP
    EXECUTE format('ALTER DEFAULT PRIVILEGES FOR ROLE %I %s GRANT %s ON %s TO %s%s', current_user,
      CASE WHEN r.schema = '-' THEN '' ELSE format('IN SCHEMA %I', r.schema) END, r.privilege_type,
      CASE r.objtype WHEN 'r' THEN 'TABLES' WHEN 'S' THEN 'SEQUENCES' WHEN 'f' THEN 'FUNCTIONS' WHEN 'T' THEN 'TYPES' ELSE 'SCHEMAS' END,
      CASE WHEN r.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(r.grantee::regrole::text) END,
      CASE WHEN r.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END);
  END LOOP;
END $pgwarden$;
`;

/** Inside the transaction, before COMMIT: every table holds exactly the rows the manifest counted, or nothing commits. */
export function rowCountChecks(manifest: BackupManifest): string {
  const literal = (text: string) => `'${text.replace(/'/g, "''")}'`;
  const lines = Object.entries(manifest.tables).map(
    ([table, expected]) =>
      `DO $pgwarden$ DECLARE n bigint; BEGIN SELECT count(*) INTO n FROM ONLY ${table}; IF n <> ${expected} THEN RAISE EXCEPTION 'pgwarden: % holds % rows, backup ${manifest.id} counted ${expected}: nothing was committed', ${literal(table)}, n; END IF; END $pgwarden$;`,
  );
  return `${lines.join('\n')}\n`;
}
