// A migration script's request for its backup is checked as the CLI checks it: a wait that does not parse is refused.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig } from '../../config/load.js';
import { PgwardenError } from '../../domain/errors.js';
import { requestPreMigrationBackup, runWithPreMigrationBackup } from '../../client/premigration.js';

// Temporal at a port nothing listens on: a request that got as far as connecting would fail with Unavailable.
const config = parseConfig({
  temporal: { address: '127.0.0.1:1' },
  repositories: { local: { type: 'fs', path: '/var/backups/pgwarden' } },
  databases: { shop: { connection: { env: 'SHOP_URL' } } },
});

const usage = (pattern: RegExp) => (error: unknown) => error instanceof PgwardenError && error.kind === 'Usage' && pattern.test(error.message);

test('a timeout that is not a duration is refused (as --timeout is), not replaced by the default hour', async () => {
  for (const timeout of ['30 minutes', 'half an hour', '', 0, -5, Number.NaN]) {
    await assert.rejects(requestPreMigrationBackup({ database: 'shop', migrationId: '20261125_x', timeout, config }), usage(/is not a duration: give milliseconds or write it like "30m"/), String(timeout));
    await assert.rejects(runWithPreMigrationBackup({ database: 'shop', migrationId: '20261125_x', timeout, config }, async () => assert.fail('migrated')), usage(/is not a duration/), String(timeout));
  }
});
