// The configuration files we ship (example, docker-compose) must pass the schema users' files pass.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { loadConfig } from '../../config/load.js';
import { encryptionEnvVars } from '../../config/secrets.js';

const root = (path: string) => fileURLToPath(new URL(`../../../${path}`, import.meta.url));

test('pgwarden.example.yaml is valid and uses the runbook secret names', () => {
  const config = loadConfig(root('pgwarden.example.yaml'));
  const b2 = config.repositories.b2;
  assert.equal(b2?.type, 's3');
  assert.equal(b2?.type === 's3' && b2.accessKeyIdEnv, 'B2_ACCOUNT_ID');
  assert.equal(b2?.type === 's3' && b2.secretAccessKeyEnv, 'B2_APP_KEY');
  assert.equal(config.encryption.passphraseEnv, 'BACKUP_PASSPHRASE');
  assert.deepEqual(config.databases.cartly?.connection, { env: 'SUPABASE_DB_URL' });
});

test('docker/pgwarden.yaml is valid and every variable it names is set by docker-compose.yml', () => {
  const config = loadConfig(root('docker/pgwarden.yaml'));
  const compose = parse(readFileSync(root('docker-compose.yml'), 'utf8')) as { services: Record<string, { environment?: Record<string, string> }> };
  const workerEnv = Object.keys(compose.services.worker?.environment ?? {});
  const named: string[] = [];
  for (const repo of Object.values(config.repositories)) if (repo.type === 's3') named.push(repo.accessKeyIdEnv!, repo.secretAccessKeyEnv!);
  for (const db of Object.values(config.databases)) if ('env' in db.connection) named.push(db.connection.env);
  named.push(...encryptionEnvVars(config));
  for (const variable of named) assert.ok(workerEnv.includes(variable), `docker-compose.yml sets ${variable} for the worker`);
  assert.equal(compose.services.worker?.environment?.PGWARDEN_CONFIG, '/etc/pgwarden/pgwarden.yaml');
});
