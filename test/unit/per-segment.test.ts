// How the per-segment commands start: which arguments go to their bundle, and the validated configuration they keep.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfigCached } from '../../config/cached.js';
import { loadConfig } from '../../config/load.js';
import { commandOf } from '../../client/per-segment.js';

const root = (path: string) => fileURLToPath(new URL(`../../../${path}`, import.meta.url));

test('the command word is found past the global options; anything unusual is left to the full CLI', () => {
  assert.equal(commandOf(['wal-push', '--db', 'x', 'pg_wal/000000010000000000000001']), 'wal-push');
  assert.equal(commandOf(['--config', '/etc/pgwarden.yaml', 'wal-fetch', '--db', 'x', 'a', 'b']), 'wal-fetch');
  assert.equal(commandOf(['-c', 'f.yaml', '--json', 'wal-push']), 'wal-push');
  assert.equal(commandOf(['-cf.yaml', 'wal-push']), 'wal-push');
  assert.equal(commandOf(['--config=f.yaml', 'wal-push']), 'wal-push');
  assert.equal(commandOf(['--config', 'wal-push', 'backup']), 'backup', "a config file named like a command is the option's value");
  assert.equal(commandOf(['--help', 'wal-push']), undefined);
  assert.equal(commandOf(['--version']), undefined);
  assert.equal(commandOf([]), undefined);
});

test('the shipped configurations are kept validated as they are (they survive JSON unchanged)', async () => {
  for (const file of ['pgwarden.example.yaml', 'docker/pgwarden.yaml']) {
    const cache = mkdtempSync(join(tmpdir(), 'pgwarden-test-config-cache-'));
    const first = await loadConfigCached(root(file), cache, 'build-1');
    assert.deepEqual(first, loadConfig(root(file)));
    assert.ok(existsSync(join(cache, 'config.json')), `${file} is kept`);
    assert.equal((JSON.parse(readFileSync(join(cache, 'config.json'), 'utf8')) as { key: string }).key.length, 64);
    assert.deepEqual(await loadConfigCached(root(file), cache, 'build-1'), first, 'read back as validated');
  }
});
