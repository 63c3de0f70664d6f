// What is inside the backups, on real Temporal, PostgreSQL and S3: silent data loss between two backups of a kind
// raises rows-dropped at a local webhook receiver (and clears), and `backups diff` shows a real schema change.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { stringify } from 'yaml';
import { readReport } from '../../activities/catalog/monitor-records.js';
import { startBackup } from '../../client/api.js';
import { waitFor } from '../../client/watch.js';
import type { Config, ConfigInput } from '../../config/schema.js';
import type { BackupResult } from '../../domain/backup.js';
import type { BackupDiff } from '../../domain/contents.js';
import { serveMetrics } from '../../worker/metrics.js';
import { secretEnv, testConfig } from '../harness/config.js';
import { fakeWebhook, type FakeService } from '../harness/services.js';
import { startStack, type Stack } from '../harness/stack.js';
import { startCountingProxy, type CountingProxy } from '../harness/counting-proxy.js';
import { locateBackup } from '../../activities/catalog/locate.js';

const CLI = fileURLToPath(new URL('../../client/cli.js', import.meta.url));

let stack: Stack;
let webhook: FakeService;
let proxy: CountingProxy;
let input: ConfigInput;
let config: Config;

before(async () => {
  [stack, webhook] = await Promise.all([startStack(), fakeWebhook()]);
  await stack.pg.query('postgres', 'CREATE DATABASE ledger');
  await stack.pg.query('postgres', 'CREATE DATABASE catalog');
  await stack.pg.query('postgres', 'CREATE DATABASE shelf');
  await stack.pg.query('postgres', 'CREATE DATABASE store');
  await stack.pg.query(
    'store',
    `CREATE TABLE products (id serial PRIMARY KEY, name text NOT NULL);
     INSERT INTO products (name) SELECT 'p' || g FROM generate_series(1, 300) g;
     CREATE TABLE reviews (id serial PRIMARY KEY, product_id int NOT NULL REFERENCES products(id), stars int CHECK (stars BETWEEN 1 AND 5));
     CREATE INDEX reviews_product_idx ON reviews (product_id);
     INSERT INTO reviews (product_id, stars) SELECT 1 + g % 300, 1 + g % 5 FROM generate_series(1, 1200) g;
     CREATE TABLE refunds (id serial PRIMARY KEY, review_id int REFERENCES reviews(id), cents int);
     INSERT INTO refunds (review_id, cents) SELECT g, g * 10 FROM generate_series(1, 40) g;
     CREATE SCHEMA audit;
     CREATE TABLE audit.log (id bigserial PRIMARY KEY, what text);
     INSERT INTO audit.log (what) SELECT 'entry ' || g FROM generate_series(1, 75) g;
     CREATE TABLE audit.logins (id int, at timestamptz);
     INSERT INTO audit.logins SELECT g, now() FROM generate_series(1, 5) g;
     -- Large enough for streams of its own (the test stack splits at 0.25 MiB): a table restore never reads them.
     CREATE TABLE page_views (id bigserial PRIMARY KEY, url text);
     INSERT INTO page_views (url) SELECT repeat(md5(g::text), 8) FROM generate_series(1, 6000) g;`,
  );
  await stack.pg.query(
    'ledger',
    `CREATE TABLE orders (id serial PRIMARY KEY, total_cents int NOT NULL);
     INSERT INTO orders (total_cents) SELECT g FROM generate_series(1, 1000) g;
     CREATE TABLE events (id serial PRIMARY KEY, what text);
     INSERT INTO events (what) SELECT 'e' || g FROM generate_series(1, 500) g;
     CREATE TABLE sessions_cache (id int, token text);
     INSERT INTO sessions_cache SELECT g, md5(g::text) FROM generate_series(1, 200) g;
     CREATE TABLE customers (id serial PRIMARY KEY, name text);
     INSERT INTO customers (name) SELECT 'c' || g FROM generate_series(1, 300) g;`,
  );
  await stack.pg.query(
    'shelf',
    `CREATE TABLE products (id serial PRIMARY KEY, name text NOT NULL, price_cents int CHECK (price_cents >= 0));
     INSERT INTO products (name, price_cents) SELECT 'p' || g, g FROM generate_series(1, 400) g;
     CREATE TABLE reviews (id serial PRIMARY KEY, product_id int REFERENCES products(id), stars int);
     INSERT INTO reviews (product_id, stars) SELECT 1 + g % 400, g % 5 FROM generate_series(1, 900) g;
     CREATE TABLE legacy_prices (product_id int, cents int);
     INSERT INTO legacy_prices SELECT g, g FROM generate_series(1, 50) g;`,
  );
  await stack.pg.query('catalog', 'CREATE TABLE legacy_prices (product_id int, cents int); INSERT INTO legacy_prices SELECT g, g FROM generate_series(1, 50) g;');
  const base = stack.configInput({ ledger: { db: 'ledger' }, catalog: { db: 'catalog' }, shelf: { db: 'shelf' }, store: { db: 'store', repositories: ['counted'] } });
  // The store's repository is the same bucket through a proxy that counts the requests: which objects a restore reads.
  proxy = await startCountingProxy(stack.s3.endpoint);
  input = {
    ...base,
    repositories: { ...base.repositories, counted: { ...(base.repositories.s3 as object), endpoint: proxy.endpoint } as never },
    alerts: { webhook: { urlEnv: secretEnv(`${webhook.url}/hooks/pgwarden`, 'CONTENTS_WEBHOOK_URL') } },
    databases: {
      ...base.databases,
      // A cache is emptied on purpose: never judged.
      ledger: { ...base.databases.ledger!, alerts: { rowsDropped: { ignore: ['public.*_cache'] } } },
      catalog: { ...base.databases.catalog!, alerts: { rowsDropped: false } },
    },
  };
  config = testConfig(input);
  await stack.worker(config);
});

after(async () => {
  await stack?.stop();
  await webhook?.stop();
  await proxy?.stop();
});

const backup = async (database: string, kind: BackupResult['kind'], migrationId?: string) =>
  waitFor<BackupResult>(await startBackup(stack.env.client, config, { database, kind, ...(migrationId ? { migrationId } : {}) }));
/** The comparison the notification workflow (started when the backup ended, not awaited by it) stored for `backupId`. */
async function comparisonOf(database: string, backupId: string) {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const report = await readReport(config, database, 'comparison');
    if (report?.backupId === backupId) return report;
    if (Date.now() > deadline) throw new Error(`no comparison of ${backupId} stored within a minute; the newest is ${JSON.stringify(report)}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}
const rowsDropped = (action: string) => webhook.received.filter((r) => r.json?.rule === 'rows-dropped' && r.json?.action === action);

describe('rows-dropped: silent data loss between two backups is an alert', () => {
  test('a daily backup after a bad DELETE and a dropped table fires at the receiver, naming each table with both counts and both backups; the next clean one resolves it', async () => {
    const first = await backup('ledger', 'daily');
    // Only the first of its kind: nothing to compare with. The comparison says so.
    const none = await comparisonOf('ledger', first.backupId);
    assert.equal(none.previousId, undefined);
    assert.deepEqual(none.dropped, []);

    await stack.pg.query('ledger', `DELETE FROM orders WHERE id > 300; DROP TABLE events; TRUNCATE sessions_cache; DELETE FROM customers WHERE id > 200;`);
    const second = await backup('ledger', 'daily');

    const hook = await webhook.waitFor((r) => r.json?.rule === 'rows-dropped' && r.json?.action === 'trigger');
    assert.equal(hook.json.severity, 'SEV-2');
    assert.equal(hook.json.dedupKey, 'pgwarden/ledger/rows-dropped');
    const summary: string = hook.json.summary;
    assert.match(summary, /2 table\(s\) lost more than 50 % of their rows or vanished between daily backups/);
    assert.ok(summary.includes(`public.orders: 1,000 rows in ${first.backupId}, 300 in ${second.backupId} (lost 70 %)`), summary);
    assert.ok(summary.includes(`public.events: 500 rows in ${first.backupId}, not in ${second.backupId} (the table is gone)`), summary);
    assert.ok(!summary.includes('sessions_cache'), 'the ignored cache is not judged');
    assert.ok(!summary.includes('public.customers'), 'a third of the rows is under the 50 % threshold');
    assert.equal(hook.json.details.previousId, first.backupId);
    assert.equal(hook.json.details.backupId, second.backupId);

    // The newest comparison is a metric, and the metrics still pass promtool.
    const metrics = await serveMetrics(config, '127.0.0.1:0');
    try {
      const text = await (await fetch(metrics.url)).text();
      assert.match(text, /^pgwarden_backup_tables_dropped\{database="ledger",kind="daily"\} 2$/m);
      assert.match(text, /^pgwarden_backup_max_row_loss_ratio\{database="ledger",kind="daily"\} 1$/m);
      assert.match(text, /^pgwarden_backup_comparison_timestamp_seconds\{database="ledger",kind="daily"\} \d+/m);
      assert.match(text, /^pgwarden_alert_firing\{database="ledger",rule="rows-dropped",severity="SEV-2"\} 1$/m);
      const check = await execa('promtool', ['check', 'metrics'], { input: text, reject: false });
      assert.equal(check.exitCode, 0, `promtool: ${check.stdout}${check.stderr}`);
    } finally {
      await metrics.close();
    }

    const third = await backup('ledger', 'daily');
    const resolved = await webhook.waitFor((r) => r.json?.rule === 'rows-dropped' && r.json?.action === 'resolve');
    assert.match(resolved.json.summary, new RegExp(`no table lost more than 50 % of its rows between daily backups ${second.backupId} and ${third.backupId}`));
    assert.equal(rowsDropped('trigger').length, 1, 'one trigger, not one per channel attempt');
  });

  test('pre-migration backups compare with the pre-migration backup before them: data a migration dropped shows up', async () => {
    await backup('ledger', 'pre-migration', '001_init');
    // The migration between the two: it "moves" customers and loses most of them.
    await stack.pg.query('ledger', 'DELETE FROM customers WHERE id > 20');
    const next = await backup('ledger', 'pre-migration', '002_split_customers');
    const hook = await webhook.waitFor((r) => r.json?.rule === 'rows-dropped' && r.json?.action === 'trigger' && String(r.json?.summary).includes('pre-migration'));
    assert.match(hook.json.summary, new RegExp(`public\\.customers: 200 rows in \\S+-pre-migration-\\w+, 20 in ${next.backupId} \\(lost 90 %\\)`));
  });

  test('a database with the rule off is never compared', async () => {
    await backup('catalog', 'daily');
    await stack.pg.query('catalog', 'DELETE FROM legacy_prices');
    const second = await backup('catalog', 'daily');
    // The notification of the second backup has run to its end: whatever it was going to compare, it has.
    await stack.env.client.workflow.getHandle(`pgwarden-notify-${second.runId}-end`).result();
    assert.equal(await readReport(config, 'catalog', 'comparison'), undefined);
    assert.equal(webhook.received.filter((r) => r.json?.database === 'catalog' && r.json?.rule === 'rows-dropped').length, 0);
  });
});

const cli = (args: string[]) => {
  const file = join(mkdtempSync(join(tmpdir(), 'pgwarden-contents-')), 'pgwarden.yaml');
  writeFileSync(file, stringify(input));
  return execa('node', [CLI, '--config', file, ...args], { reject: false, env: process.env });
};

describe('backups diff: what a migration changed, without restoring', () => {
  test('across a real schema change: rows and sizes per table, tables added and removed, columns, indexes and constraints', async () => {
    const before = await backup('shelf', 'manual');
    await stack.pg.query(
      'shelf',
      `ALTER TABLE products ADD COLUMN sku text;
       ALTER TABLE products DROP CONSTRAINT products_price_cents_check;
       CREATE INDEX reviews_product_idx ON reviews (product_id);
       DROP TABLE legacy_prices;
       CREATE TABLE refunds (id serial PRIMARY KEY, review_id int REFERENCES reviews(id));
       INSERT INTO refunds (review_id) SELECT g FROM generate_series(1, 7) g;
       INSERT INTO reviews (product_id, stars) SELECT 1, 5 FROM generate_series(1, 2000) g;`,
    );
    const after = await backup('shelf', 'manual');

    const run = await cli(['--json', 'backups', 'diff', '--db', 'shelf', 'previous', 'latest']);
    assert.equal(run.exitCode, 0, run.stderr);
    const diff = (JSON.parse(run.stdout) as { result: BackupDiff }).result;
    assert.equal(diff.from.id, before.backupId);
    assert.equal(diff.to.id, after.backupId);
    assert.deepEqual(diff.added, ['public.refunds']);
    assert.deepEqual(diff.removed, ['public.legacy_prices']);
    const reviews = diff.tables.find((t) => t.table === 'public.reviews')!;
    assert.deepEqual([reviews.rowsBefore, reviews.rowsAfter, reviews.status], [900, 2900, 'changed']);
    assert.ok(reviews.bytesBefore! > 0 && reviews.bytesAfter! > reviews.bytesBefore!, `sizes from the manifests: ${JSON.stringify(reviews)}`);
    assert.equal(diff.tables.find((t) => t.table === 'public.refunds')!.rowsAfter, 7);

    const products = diff.definitions.find((d) => d.table === 'public.products')!;
    assert.ok(products, JSON.stringify(diff.definitions));
    assert.deepEqual(products.changes, ['columns', 'constraint products_price_cents_check removed']);
    assert.match(products.after.join('\n'), /sku text/);
    assert.match(products.before.join('\n'), /CHECK \(\(price_cents >= 0\)\)/);
    const reviewDefs = diff.definitions.find((d) => d.table === 'public.reviews')!;
    assert.deepEqual(reviewDefs.changes, ['index reviews_product_idx added']);
    assert.equal(diff.definitions.length, 2, 'refunds is added (not changed), legacy_prices removed');
    assert.equal(diff.definitionsError, undefined);

    const text = await cli(['backups', 'diff', '--db', 'shelf', before.backupId, after.backupId]);
    assert.equal(text.exitCode, 0, text.stderr);
    assert.match(text.stdout, /^public\.reviews\s+900\s+2,900\s+\+2,000 \(\+222\.2 %\)/m);
    assert.match(text.stdout, /^public\.legacy_prices\s+50\s+-\s+REMOVED/m);
    assert.match(text.stdout, /Tables added: public\.refunds; removed: public\.legacy_prices\./);
    assert.match(text.stdout, /public\.products: columns; constraint products_price_cents_check removed/);

    // The same answer from the Temporal UI: a workflow anyone can start there.
    const fromUi = await stack.env.client.workflow.execute('backupDiffWorkflow', {
      taskQueue: config.temporal.taskQueue,
      workflowId: `diff-shelf-${after.backupId}`,
      args: [{ database: 'shelf', from: 'previous', to: 'latest' }],
    });
    assert.deepEqual(fromUi, diff);

    const missing = await cli(['backups', 'diff', '--db', 'shelf', 'nope', 'latest']);
    assert.notEqual(missing.exitCode, 0);
    assert.match(missing.stderr, /Backup "nope" of "shelf" does not exist.*backups list --db shelf/);
  });
});

describe('restore --table: one table back into a new database', () => {
  test('two tables of a backup with their sequences, indexes and constraints; the foreign key to a table left out is listed; row counts verified', async () => {
    const taken = await backup('store', 'manual');
    // Someone truncates the tables in production; the backup still has them.
    await stack.pg.query('store', 'TRUNCATE refunds, reviews');
    const { manifest } = await locateBackup(config, 'store', taken.backupId);
    const data = manifest.objects.filter((o) => o.role === 'data');
    const holding = data.filter((o) => o.tables?.some((t) => t === 'public.reviews' || t === 'public.refunds'));
    const others = data.filter((o) => !holding.includes(o));
    assert.ok(holding.some((o) => o.tables!.some((t) => !['public.reviews', 'public.refunds'].includes(t))), `the two share a stream with tables not restored (the filter has work): ${JSON.stringify(data.map((o) => o.tables))}`);
    assert.ok(others.some((o) => o.tables?.includes('public.page_views')), 'page_views has streams of its own');
    proxy.reset();

    const run = await cli(['--json', 'restore', '--db', 'store', '--backup', taken.backupId, '--table', 'public.reviews', '--table', 'refunds', '--into', 'store_reviews']);
    assert.equal(run.exitCode, 0, run.stderr);
    const result = (JSON.parse(run.stdout) as { result: { tables: number; rows: number; rowCountsMatch: boolean; leftOut?: string[] } }).result;
    assert.deepEqual([result.tables, result.rows, result.rowCountsMatch], [2, 1240, true]);
    assert.deepEqual(result.leftOut, ['public.reviews: foreign key reviews_product_id_fkey → public.products (not restored)']);
    const read = (name: string) => proxy.requests.some((r) => r.startsWith('GET ') && r.includes(`/${taken.backupId}/${name}`));
    // Read: the streams holding the two tables, and pg_dump's own (sequence values, no table's rows); never page_views'.
    const needed = [...holding, ...data.filter((o) => !o.tables?.length)].map((o) => o.name).sort();
    assert.deepEqual(data.filter((o) => read(o.name)).map((o) => o.name).sort(), needed, `requests: ${proxy.requests.join(', ')}`);
    assert.ok(data.filter((o) => o.tables?.includes('public.page_views')).every((o) => !read(o.name)));

    const tables = await stack.pg.query('store_reviews', "SELECT string_agg(schemaname || '.' || tablename, ',' ORDER BY tablename) AS t FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')");
    assert.equal(tables.rows[0]!.t, 'public.refunds,public.reviews', 'only the two tables');
    const constraints = await stack.pg.query('store_reviews', "SELECT string_agg(conname, ',' ORDER BY conname) AS c FROM pg_constraint WHERE conrelid IN ('public.reviews'::regclass, 'public.refunds'::regclass)");
    assert.equal(constraints.rows[0]!.c, 'refunds_pkey,refunds_review_id_fkey,reviews_pkey,reviews_stars_check');
    const index = await stack.pg.query('store_reviews', "SELECT count(*)::int AS n FROM pg_indexes WHERE indexname = 'reviews_product_idx'");
    assert.equal(index.rows[0]!.n, 1);
    // The sequence goes on where production's was: the next review gets a new id.
    const next = await stack.pg.query('store_reviews', 'INSERT INTO reviews (product_id, stars) VALUES (1, 5) RETURNING id');
    assert.equal(next.rows[0]!.id, 1201);

    const schema = await cli(['--json', 'restore', '--db', 'store', '--backup', taken.backupId, '--schema', 'audit', '--into', 'store_audit']);
    assert.equal(schema.exitCode, 0, schema.stderr);
    const audit = (JSON.parse(schema.stdout) as { result: { tables: number; rows: number; leftOut?: string[] } }).result;
    assert.deepEqual([audit.tables, audit.rows, audit.leftOut], [2, 80, undefined]);
    const counts = await stack.pg.query('store_audit', "SELECT (SELECT count(*) FROM audit.log)::int AS log, (SELECT count(*) FROM audit.logins)::int AS logins, (SELECT count(*) FROM pg_tables WHERE schemaname = 'public')::int AS public");
    assert.deepEqual(counts.rows[0], { log: 75, logins: 5, public: 0 });

    // From the Temporal UI's form: the same restore with a `tables` field (the README's JSON), under an id of the UI's own.
    const fromUi = await stack.env.client.workflow.execute<(input: unknown) => Promise<{ tables: number; rows: number; rowCountsMatch: boolean }>>('restoreWorkflow', {
      taskQueue: config.temporal.taskQueue,
      workflowId: `ui-table-restore-${Date.now()}`,
      args: [{ database: 'store', backup: taken.backupId, target: 'store_reviews_ui', tables: ['public.reviews'] }],
    });
    assert.deepEqual([fromUi.tables, fromUi.rows, fromUi.rowCountsMatch], [1, 1200, true]);
    const uiTables = await stack.pg.query('store_reviews_ui', "SELECT string_agg(schemaname || '.' || tablename, ',') AS t, (SELECT count(*)::int FROM public.reviews) AS n FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')");
    assert.deepEqual(uiTables.rows[0], { t: 'public.reviews', n: 1200 });

    const wrong = await cli(['restore', '--db', 'store', '--backup', taken.backupId, '--table', 'public.nope', '--into', 'store_nope']);
    assert.notEqual(wrong.exitCode, 0);
    assert.match(wrong.stderr, /has no public\.nope\. Its tables: .*public\.reviews/);
  });
});
