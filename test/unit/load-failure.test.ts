// A failed pg_restore or psql load is retried only when trying again can help, and otherwise says what will.
// The stderr samples are what PostgreSQL 15's tools print (LC_MESSAGES=C, as pgwarden runs them).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { explainLoadFailure } from '../../activities/postgres/load.js';

const WHAT = 'pre-data.pgdump.zst.gpg of backup 20261125T020000Z-daily-ab12';

test('a role missing on the target server is not retried, and the message names the role and the options', () => {
  const error = explainLoadFailure(
    'pg_restore',
    WHAT,
    'pg_restore: error: could not execute query: ERROR:  role "app_owner" does not exist\nCommand was: ALTER TABLE public.orders OWNER TO app_owner;',
    1,
    { noOwner: false },
  );
  assert.equal(error.retryable, false);
  assert.equal(error.kind, 'Failed');
  assert.match(error.message, /pg_restore failed loading pre-data\.pgdump\.zst\.gpg .*\(exit 1\)/);
  assert.match(error.message, /lacks role "app_owner" .* restore with --no-owner --no-privileges/);
  assert.match(error.message, /was not retried; its staging database is dropped/);
});

test("a GRANT refused in the server's own language still points at --no-privileges", () => {
  const error = explainLoadFailure(
    'pg_restore',
    WHAT,
    'pg_restore: error: could not execute query: FEHLER:  Rolle »reporting« existiert nicht\nCommand was: GRANT SELECT ON TABLE public.orders TO reporting;',
    1,
    { noOwner: true },
  );
  assert.equal(error.retryable, false);
  assert.match(error.message, /lacks a role .* --no-owner --no-privileges/);
});

test('a role that a policy names cannot be skipped by an option: create it', () => {
  const error = explainLoadFailure(
    'pg_restore',
    WHAT,
    'pg_restore: error: could not execute query: ERROR:  role "reporting" does not exist\nCommand was: CREATE POLICY p ON public.orders TO reporting USING (true);',
    1,
    { noOwner: true, noPrivileges: true },
  );
  assert.equal(error.retryable, false);
  assert.match(error.message, /row-level security policy .* role "reporting" .* create that role there first/);
});

test('a missing extension says to install it', () => {
  const error = explainLoadFailure(
    'pg_restore',
    WHAT,
    'pg_restore: error: could not execute query: ERROR:  extension "postgis" is not available\nDETAIL:  Could not open extension control file "/usr/share/postgresql/15/extension/postgis.control": No such file or directory.\nCommand was: CREATE EXTENSION IF NOT EXISTS postgis WITH SCHEMA public;',
    1,
  );
  assert.equal(error.retryable, false);
  assert.match(error.message, /Install the extension "postgis" on the target server/);
});

test('rows the server refuses are not retried', () => {
  const error = explainLoadFailure('psql', 'data-0001.sql.zst.gpg', 'psql:<stdin>:24: ERROR:  invalid input syntax for type integer: "x"\nCONTEXT:  COPY t, line 1, column id: "x"', 3);
  assert.equal(error.retryable, false);
  assert.match(error.message, /refused a statement of the backup; trying again will not change that/);
});

test('a lost connection, a killed process or a deadlock are retried', () => {
  const lost = 'FATAL:  terminating connection due to administrator command\nserver closed the connection unexpectedly\n\tThis probably means the server terminated abnormally\nconnection to server was lost';
  assert.equal(explainLoadFailure('psql', 'data-0001.sql.zst.gpg', lost, 2).retryable, true);
  assert.equal(explainLoadFailure('pg_restore', WHAT, 'pg_restore: error: could not execute query: server closed the connection unexpectedly', 1).retryable, true);
  assert.equal(
    explainLoadFailure('pg_restore', WHAT, 'pg_restore: error: connection to server at "db" (10.0.0.5), port 5432 failed: Connection refused', 1).retryable,
    true,
  );
  assert.equal(explainLoadFailure('psql', 'data-0001.sql.zst.gpg', '', null).retryable, true);
  assert.equal(explainLoadFailure('pg_restore', 'post-data', 'pg_restore: error: could not execute query: ERROR:  deadlock detected', 1).retryable, true);
});
