// The one reading of sslmode and its files (activities/postgres/tls.ts) that pgwarden and the libpq tools share.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { libpqTlsEnv, nodeSslAttempts, pgTls } from '../../activities/postgres/tls.js';
import { PgwardenError } from '../../domain/errors.js';

const URL_BASE = 'postgresql://u:p@db.example:5432/app';

test('no sslmode is libpq\'s default, prefer, and the tools are told so explicitly', () => {
  const tls = pgTls(URL_BASE, 'test');
  assert.equal(tls.mode, 'prefer');
  assert.equal(libpqTlsEnv(tls).PGSSLMODE, 'prefer');
  const attempts = nodeSslAttempts(URL_BASE, tls, 'test');
  assert.equal(attempts.length, 2, 'TLS first, then plain');
  assert.deepEqual(attempts[0], { rejectUnauthorized: false });
  assert.equal(attempts[1], false);
});

test('a misspelt sslmode, a CA-less verify mode and sslrootcert=system without verify-full are configuration errors', () => {
  const refused = (url: string, message: RegExp) =>
    assert.throws(() => pgTls(url, 'database "app"'), (e: unknown) => e instanceof PgwardenError && e.kind === 'Config' && message.test(e.message));
  refused(`${URL_BASE}?sslmode=required`, /sslmode=required: use one of disable, allow, prefer, require, verify-ca, verify-full/);
  refused(`${URL_BASE}?sslmode=verify-ca`, /names no CA: add sslrootcert=/);
  refused(`${URL_BASE}?sslmode=require&sslrootcert=system`, /only used with sslmode=verify-full/);
  assert.equal(pgTls(`${URL_BASE}?sslmode=verify-full&sslrootcert=system`, 'x').rootCert, 'system');
});

test('a Unix-domain socket never uses TLS, whatever sslmode says (as libpq)', () => {
  const url = 'postgresql://u@%2Fvar%2Frun%2Fpostgresql/app?sslmode=require';
  assert.deepEqual(nodeSslAttempts(url, pgTls(url, 'x'), 'x'), [false]);
});

test("libpq's default CA file (~/.postgresql/root.crt) counts when the URL names none, for both sides", () => {
  const home = mkdtempSync(join(tmpdir(), 'pgwarden-home-'));
  const saved = process.env.HOME;
  try {
    mkdirSync(join(home, '.postgresql'));
    writeFileSync(join(home, '.postgresql', 'root.crt'), 'not a real certificate');
    process.env.HOME = home;
    const tls = pgTls(`${URL_BASE}?sslmode=verify-ca`, 'x');
    assert.equal(tls.rootCert, join(home, '.postgresql', 'root.crt'));
    assert.equal(libpqTlsEnv(tls).PGSSLROOTCERT, join(home, '.postgresql', 'root.crt'));
  } finally {
    process.env.HOME = saved;
    rmSync(home, { recursive: true, force: true });
  }
});
