// The runbook's alerts, restore drills, metrics and status on real Temporal, PostgreSQL and S3, with local
// stand-ins for Slack, PagerDuty, healthchecks.io and a webhook receiver that check the documented request shapes.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { execFileSync } from 'node:child_process';
import { stringify } from 'yaml';
import { readReport } from '../../activities/catalog/monitor-records.js';
import { openAlertStore, writeAlertStates } from '../../activities/catalog/monitor-records.js';
import { startBackup, startDrill } from '../../client/api.js';
import { waitFor } from '../../client/watch.js';
import { PgwardenError } from '../../domain/errors.js';
import type { Config, ConfigInput } from '../../config/schema.js';
import { serveMetrics } from '../../worker/metrics.js';
import { monitorWorkflowId } from '../../domain/ids.js';
import { alertLedgerWorkflowId } from '../../domain/alert-ledger.js';
import type { BackupResult } from '../../domain/backup.js';
import type { DrillResult } from '../../domain/verify.js';
import type { MonitorResult } from '../../domain/health.js';
import { secretEnv, testConfig } from '../harness/config.js';
import { fakeHealthchecks, fakePagerDuty, fakeSlack, fakeWebhook, type FakeService } from '../harness/services.js';
import { namespaceOf } from '../harness/temporal.js';
import { startStack, type Stack } from '../harness/stack.js';

const CLI = fileURLToPath(new URL('../../client/cli.js', import.meta.url));

let stack: Stack;
let slack: FakeService;
let pagerduty: FakeService;
let healthchecks: FakeService;
let webhook: FakeService;
let input: ConfigInput;
let config: Config;
const ROUTING_KEY = 'R0UT1NGKEY0123456789abcdef012345';

before(async () => {
  [stack, slack, pagerduty, healthchecks, webhook] = await Promise.all([startStack(), fakeSlack(), fakePagerDuty(), fakeHealthchecks(), fakeWebhook()]);
  await stack.pg.query('postgres', 'CREATE DATABASE shop');
  await stack.pg.query('postgres', 'CREATE DATABASE tiny');
  await stack.pg.query('postgres', 'CREATE DATABASE hollow');
  await stack.pg.query('postgres', 'CREATE DATABASE lapse');
  // Emptied, not dropped: three tables, no rows (what a TRUNCATE or a wrong migration leaves).
  await stack.pg.query('hollow', 'CREATE TABLE customers (id int, name text); CREATE TABLE invoices (id int, total numeric); CREATE TABLE payments (id int, paid_at timestamptz);');
  await stack.pg.query(
    'lapse',
    `CREATE TABLE orders (id serial PRIMARY KEY, total_cents int NOT NULL);
     INSERT INTO orders (total_cents) SELECT g * 3 FROM generate_series(1, 1000) g;
     CREATE TABLE items (id serial PRIMARY KEY, name text);`,
  );
  await stack.pg.query(
    'shop',
    `CREATE TABLE users (id serial PRIMARY KEY, email text NOT NULL);
     INSERT INTO users (email) SELECT 'user' || g || CASE WHEN g % 50 = 0 THEN '@test.cartly.de' ELSE '@example.com' END FROM generate_series(1, 2000) g;
     CREATE TABLE orders (id serial PRIMARY KEY, user_id int NOT NULL, total_cents int NOT NULL);
     INSERT INTO orders (user_id, total_cents) SELECT 1 + g % 2000, g * 7 FROM generate_series(1, 5000) g;`,
  );
  const base = stack.configInput({ shop: { db: 'shop' }, tiny: { db: 'tiny' }, flaky: { db: 'tiny' }, shopok: { db: 'shop' }, hollow: { db: 'hollow' }, lapse: { db: 'lapse' }, refused: { db: 'tiny' }, upgraded: { db: 'shop' } });
  const spotCheck = { sql: "SELECT id, email FROM users WHERE email LIKE '%@test.cartly%'", minRows: 1 };
  input = {
    ...base,
    temporal: { ...base.temporal!, ui: 'http://temporal-ui.test:8233' },
    alerts: {
      // Short, so that the outage below outlasts it twice: every alert still true is re-sent after this long.
      reminder: '15s',
      slack: { webhookUrlEnv: secretEnv(`${slack.url}/services/T000/B000/XXXX`, 'SLACK_WEBHOOK_URL') },
      pagerduty: { routingKeyEnv: secretEnv(ROUTING_KEY, 'PAGERDUTY_ROUTING_KEY'), url: `${pagerduty.url}/v2/enqueue` },
      healthchecks: { pingKeyEnv: secretEnv('pingkey-test', 'HC_PING_KEY'), baseUrl: healthchecks.url },
      webhook: { urlEnv: secretEnv(`${webhook.url}/hooks/pgwarden`, 'ALERT_WEBHOOK_URL'), authorizationEnv: secretEnv('Bearer hook-token', 'ALERT_WEBHOOK_AUTH') },
    },
    databases: {
      ...base.databases,
      shop: {
        ...base.databases.shop!,
        alerts: { maxBackupAge: '4s' },
        // The runbook's spot check passes; the orders assertion cannot.
        drill: { assertions: [spotCheck, { name: 'orders has a million rows', table: 'orders', minRows: 1_000_000 }] },
      },
      shopok: {
        ...base.databases.shopok!,
        drill: { assertions: [spotCheck, { table: 'public.orders', minRows: 5_000 }, { name: 'users per domain as in production', sql: "SELECT split_part(email, '@', 2) AS domain, count(*) FROM users GROUP BY 1", equalsSource: true }] },
      },
      // The same (empty) database under another name: its own alert state, for the failing-notifier test.
      flaky: { ...base.databases.flaky!, alerts: { minBackupSize: '64KiB' } },
      // For the repository outage: a drill that fails until items has a row, a backup age limit the outage outlasts.
      lapse: { ...base.databases.lapse!, alerts: { maxBackupAge: '20s' }, drill: { assertions: [{ name: 'items are there', table: 'items', minRows: 1 }] } },
    },
  };
  config = testConfig(input);
  await stack.worker(config);
});

after(async () => {
  await stack?.stop();
  await Promise.all([slack, pagerduty, healthchecks, webhook].map((s) => s?.stop()));
});

const backup = async (database: string, kind: BackupResult['kind'] = 'manual') => waitFor<BackupResult>(await startBackup(stack.env.client, config, { database, kind }));
const monitor = (database: string) =>
  stack.env.client.workflow.execute<() => Promise<MonitorResult>>('monitorWorkflow', { taskQueue: config.temporal.taskQueue, workflowId: monitorWorkflowId(database), args: [{ database }] as never });
const pdEvents = (dedupKey: string) => pagerduty.received.filter((r) => r.json?.dedup_key === dedupKey);

describe('alerts from a job, at once', () => {
  test('a backup that produced a tiny object raises SEV-1 on every channel, in each service\'s documented shape; healthchecks sees start and success', async () => {
    const result = await backup('tiny', 'daily');
    assert.equal(result.rows, 0, 'an empty database');

    const pd = await pagerduty.waitFor((r) => r.json?.dedup_key === 'pgwarden/tiny/backup-too-small');
    assert.equal(pd.status, 202);
    assert.equal(pd.json.routing_key, ROUTING_KEY);
    assert.equal(pd.json.event_action, 'trigger');
    assert.equal(pd.json.payload.severity, 'critical', 'SEV-1 pages as critical');
    assert.equal(pd.json.payload.source, 'pgwarden/tiny');
    assert.match(pd.json.payload.summary, /SEV-1.*tiny.*backup too small.*holds no rows \(\d+ B of table data, all of it dump framing; alert below 1\.00 KiB or without rows\)/);
    assert.equal(pd.json.links[0].href, `http://temporal-ui.test:8233/namespaces/${namespaceOf(stack.env)}/workflows/pgwarden-backup-tiny/${result.runId}/history`);

    const message = await slack.waitFor((r) => /backup too small/.test(r.json?.text ?? ''));
    assert.equal(message.path, '/services/T000/B000/XXXX');
    assert.equal(message.status, 200);
    assert.match(message.json.text, /SEV-1.*\*tiny\*/);
    assert.match(JSON.stringify(message.json.blocks), /since \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC.*workflow in the Temporal UI/);

    const hook = await webhook.waitFor((r) => r.json?.rule === 'backup-too-small');
    assert.equal(hook.headers.authorization, 'Bearer hook-token');
    assert.deepEqual([hook.json.action, hook.json.database, hook.json.severity, hook.json.dedupKey], ['trigger', 'tiny', 'SEV-1', 'pgwarden/tiny/backup-too-small']);

    const started = await healthchecks.waitFor((r) => r.path === '/pingkey-test/tiny-daily/start');
    const succeeded = await healthchecks.waitFor((r) => r.path === '/pingkey-test/tiny-daily');
    assert.equal(started.query.rid, result.runId, 'start and end pair up by the run id');
    assert.equal(succeeded.query.rid, result.runId);
    assert.match(succeeded.text, /daily of tiny succeeded in (\d+s|\d+ ms) \(backup /);

    // The state is in the repository: status, metrics and the next evaluation read it there.
    const state = await (await openAlertStore(config, 'tiny'))!.read('backup-too-small');
    assert.equal(state?.firing, true);
    assert.equal(state?.severity, 'SEV-1');
  });

  test('a notifier that answers 500 is retried with backoff while the backup has already succeeded; the other channels are not held up', async () => {
    pagerduty.failNext(2, 500);
    const before = pagerduty.received.length;
    const result = await backup('flaky');
    assert.ok(result.backupId, 'the backup succeeded');
    const delivered = await pagerduty.waitFor((r) => r.json?.dedup_key === 'pgwarden/flaky/backup-too-small' && r.status === 202);
    const attempts = pagerduty.received.slice(before).filter((r) => r.json?.dedup_key === 'pgwarden/flaky/backup-too-small');
    assert.deepEqual(attempts.map((r) => r.status), [500, 500, 202], 'two failed attempts, then delivered');
    assert.ok(delivered);
    assert.equal(slack.received.filter((r) => /flaky/.test(r.json?.text ?? '')).length, 1, 'Slack got it once, not once per PagerDuty retry');
  });
});

describe('alerts from the monitor', () => {
  test('backups stopped long enough raise the age alert once (no re-send every run), and a new backup resolves it', async () => {
    const first = await backup('shop');
    const quiet = await monitor('shop');
    assert.equal(quiet.observations.find((o) => o.rule === 'backup-too-old')?.firing, false);
    const waitMs = Date.parse(first.finishedAt) + 4_500 - Date.now();
    if (waitMs > 0) await new Promise((r) => setTimeout(r, waitMs)); // the configured maxBackupAge is 4 s

    const fired = await monitor('shop');
    assert.equal(fired.observations.find((o) => o.rule === 'backup-too-old')?.firing, true);
    const trigger = await pagerduty.waitFor((r) => r.json?.dedup_key === 'pgwarden/shop/backup-too-old');
    assert.equal(trigger.json.event_action, 'trigger');
    assert.equal(trigger.json.payload.severity, 'warning', 'SEV-2 is the runbook\'s PagerDuty "warning"');
    assert.match(trigger.json.payload.summary, /newest backup \(\S+\) finished \d+s ago \(alert after 4s\)/);

    const again = await monitor('shop');
    assert.equal(again.notifications, 0, 'still firing: not sent again before the reminder interval');

    await backup('shop');
    const cleared = await monitor('shop');
    assert.equal(cleared.notifications, 1);
    const resolve = await pagerduty.waitFor((r) => r.json?.dedup_key === 'pgwarden/shop/backup-too-old' && r.json.event_action === 'resolve');
    assert.deepEqual(Object.keys(resolve.json).sort(), ['dedup_key', 'event_action', 'routing_key']);
    assert.deepEqual(pdEvents('pgwarden/shop/backup-too-old').map((r) => r.json.event_action), ['trigger', 'resolve']);
    await slack.waitFor((r) => /resolved.*shop.*backup too old/.test(r.json?.text ?? ''));
  });
});

describe('restore drills', () => {
  test('a drill whose assertion fails raises SEV-2 and leaves no drill database', async () => {
    const handle = await startDrill(stack.env.client, config, { database: 'shop' });
    await assert.rejects(waitFor<DrillResult>(handle), (error: unknown) => {
      assert.ok(error instanceof PgwardenError);
      assert.equal(error.kind, 'Integrity');
      assert.match(error.message, /assertion "orders has a million rows" failed \(5000 row\(s\), at least 1000000 required\)/);
      return true;
    });
    const pd = await pagerduty.waitFor((r) => r.json?.dedup_key === 'pgwarden/shop/drill-failed');
    assert.equal(pd.json.payload.severity, 'warning');
    assert.match(pd.json.payload.summary, /SEV-2.*restore drill failed/);
    const leftovers = (await stack.pg.databases()).filter((d) => d.includes('pgwdrill') || d.includes('pgwrestore'));
    assert.deepEqual(leftovers, [], 'the drill database was dropped');

    const report = await readReport(config, 'shop', 'drill');
    assert.equal(report?.passed, false);
    const logical = report!.parts[0]!;
    assert.equal(logical.rowCountsMatch, true);
    assert.deepEqual(logical.assertions.map((a) => a.passed), [true, false]);
    assert.equal(logical.cleanedUp, true);
  });

  test('a drill that passes records the restore time against the RTO and the data age against the RPO', async () => {
    await backup('shopok');
    const result = await waitFor<DrillResult>(await startDrill(stack.env.client, config, { database: 'shopok' }));
    assert.equal(result.passed, true, result.failures.join('; '));
    const part = result.parts[0]!;
    assert.equal(part.rtoMs, 3_600_000);
    assert.equal(part.withinRto, true);
    assert.ok(part.restoreMs! > 0 && part.restoreMs! < part.rtoMs!);
    assert.equal(part.rpoMs, 86_400_000);
    assert.ok(part.dataAgeMs! >= 0 && part.withinRpo);
    assert.deepEqual(part.assertions.map((a) => [a.passed, a.detail]), [
      [true, '40 row(s), at least 1 required'],
      [true, '5000 row(s), at least 5000 required'],
      [true, 'same 2 row(s) as the source'],
    ]);
    assert.deepEqual((await stack.pg.databases()).filter((d) => d.includes('pgwdrill')), []);
  });
});

describe('metrics and status', () => {
  test('the metrics endpoint serves the repositories\' view: last backups, drill result, alerts firing, process metrics', async () => {
    const metrics = await serveMetrics(config, '127.0.0.1:0');
    try {
      const text = await (await fetch(metrics.url)).text();
      assert.match(text, /^pgwarden_backup_last_success_timestamp_seconds\{database="shop",kind="manual"\} \d+/m);
      assert.match(text, /^pgwarden_backup_last_size_bytes\{database="tiny",kind="daily"\} \d+/m);
      assert.match(text, /^pgwarden_drill_last_success\{database="shop"\} 0$/m);
      assert.match(text, /^pgwarden_drill_last_success\{database="shopok"\} 1$/m);
      assert.match(text, /^pgwarden_drill_last_restore_duration_seconds\{database="shopok",type="logical"\} [\d.]+$/m);
      assert.match(text, /^pgwarden_alert_firing\{database="tiny",rule="backup-too-small",severity="SEV-1"\} 1$/m);
      assert.match(text, /^process_resident_memory_bytes \d+/m);
    } finally {
      await metrics.close();
    }
  });

  test('`pgwarden status --json` with Temporal down still shows what the repositories say', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pgwarden-status-'));
    const file = join(dir, 'pgwarden.yaml');
    writeFileSync(file, stringify({ ...input, temporal: { ...input.temporal!, address: '127.0.0.1:1' } }));
    const run = await execa('node', [CLI, '--config', file, '--json', 'status'], { reject: false });
    assert.equal(run.exitCode, 0, run.stderr);
    const status = JSON.parse(run.stdout).result;
    assert.equal(status.temporal.reachable, false);
    const tiny = status.databases.find((d: { database: string }) => d.database === 'tiny');
    assert.equal(tiny.logical.byKind.daily.kind, 'daily');
    assert.deepEqual(tiny.alerts.map((a: { rule: string }) => a.rule), ['backup-too-small']);
    const shop = status.databases.find((d: { database: string }) => d.database === 'shop');
    assert.equal(shop.drill.passed, false);
    assert.equal(shop.running, undefined, 'Temporal was not asked');
  });
});

const configFile = (changes: Partial<ConfigInput> = {}) => {
  const file = join(mkdtempSync(join(tmpdir(), 'pgwarden-monitoring-')), 'pgwarden.yaml');
  writeFileSync(file, stringify({ ...input, ...changes }));
  return file;
};
const cli = (args: string[], env: Record<string, string> = {}) => execa('node', [CLI, '--config', configFile(), ...args], { reject: false, env: { ...process.env, ...env } });

describe('alerts that keep their word', () => {
  test('a backup of an emptied database (its tables still there, no rows) raises backup-too-small, SEV-1', async () => {
    const result = await backup('hollow');
    assert.equal(result.rows, 0);
    const pd = await pagerduty.waitFor((r) => r.json?.dedup_key === 'pgwarden/hollow/backup-too-small', 20_000);
    assert.equal(pd.json.payload.severity, 'critical');
    assert.match(pd.json.payload.summary, /backup \S+ holds no rows \([\d.]+ KiB of table data, all of it dump framing/);
  });

  test('`config check` checks every alert channel: an unset variable fails it, --send-test reaches each service', async () => {
    const variable = config.alerts.slack!.webhookUrlEnv;
    const unset = await cli(['config', 'check'], { [variable]: '' });
    assert.notEqual(unset.exitCode, 0, 'a Slack channel without its webhook URL is not "valid, everything reachable"');
    assert.match(unset.stderr + unset.stdout, new RegExp(`FAIL alert channel slack: Environment variable ${variable} \\(the Slack webhook URL\\) is not set`));

    const before = slack.received.length;
    const sent = await cli(['config', 'check', '--send-test']);
    assert.equal(sent.exitCode, 0, sent.stderr);
    assert.match(sent.stdout, /ok {3}alert channel pagerduty: .*test alert sent and resolved/);
    assert.ok(slack.received.slice(before).some((r) => /test alert/.test(r.json?.text ?? '')), 'Slack got the test alert');
    assert.deepEqual(pdEvents('pgwarden/config-check/channel-test').map((r) => r.json.event_action), ['trigger', 'resolve']);
  });

  test('a channel that refuses an alert (4xx) shows in `status` and in a metric', async () => {
    slack.failNext(1, 404);
    const result = await backup('refused');
    assert.ok(result.backupId);
    await slack.waitFor((r) => r.status === 404);
    let status: { databases: Array<{ database: string; channels?: Array<{ channel: string; ok: boolean }> }> } | undefined;
    for (let i = 0; i < 50; i += 1) {
      const run = await cli(['--json', 'status', '--db', 'refused']);
      status = JSON.parse(run.stdout).result;
      if (status!.databases[0]!.channels?.some((c) => c.channel === 'slack' && !c.ok)) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    assert.deepEqual(status!.databases[0]!.channels?.find((c) => c.channel === 'slack')?.ok, false, 'status shows the refusal');
    const text = await cli(['status', '--db', 'refused']);
    assert.match(text.stdout, /CHANNEL {3}slack REFUSED an alert/);
    const metrics = await serveMetrics(config, '127.0.0.1:0');
    try {
      assert.match(await (await fetch(metrics.url)).text(), /^pgwarden_alert_channel_ok\{database="refused",channel="slack"\} 0$/m);
    } finally {
      await metrics.close();
    }
  });

  test('an incident opened by the release before the alert ledger (its state only in the repository) is resolved when its condition clears', async () => {
    const since = new Date(Date.now() - 3_600_000).toISOString();
    await writeAlertStates(config, 'upgraded', [
      { rule: 'backup-failed', firing: true, severity: 'SEV-2', summary: 'backup failed: connection refused', since, lastSentAt: since, observedAt: since, generation: 3 },
    ]);
    await backup('upgraded');
    const resolve = await pagerduty.waitFor((r) => r.json?.dedup_key === 'pgwarden/upgraded/backup-failed' && r.json.event_action === 'resolve', 20_000);
    assert.equal(resolve.status, 202);
  });

  test('the metrics pass `promtool check metrics`', async (t) => {
    const promtool = ['/usr/bin/promtool', '/usr/local/bin/promtool'].find((p) => {
      try {
        execFileSync(p, ['--version'], { stdio: 'ignore' });
        return true;
      } catch {
        return false;
      }
    });
    if (!promtool) {
      t.skip('promtool is not installed (Debian: apt-get install prometheus; scripts/bootstrap.sh does it)');
      return;
    }
    const metrics = await serveMetrics(config, '127.0.0.1:0');
    try {
      const text = await (await fetch(metrics.url)).text();
      const check = await execa(promtool, ['check', 'metrics'], { input: text, reject: false });
      assert.equal(check.exitCode, 0, `${check.stdout}${check.stderr}`);
    } finally {
      await metrics.close();
    }
  });

  test('a repository outage of 45 seconds (three reminder intervals): one "repository unreachable" alert, reminded as configured, job alerts reminded, nothing else fired or cleared, every incident resolved after', async () => {
    const reminderMs = 15_000;
    await backup('lapse');
    await assert.rejects(waitFor<DrillResult>(await startDrill(stack.env.client, config, { database: 'lapse' })));
    await pagerduty.waitFor((r) => r.json?.dedup_key === 'pgwarden/lapse/drill-failed');
    // Read again a second after the last read (30 s unless told): what a scrape during the outage sees.
    const refreshMs = 1_000;
    const metrics = await serveMetrics(config, '127.0.0.1:0', { refreshMs });
    try {
      assert.match(await (await fetch(metrics.url)).text(), /^pgwarden_backup_last_success_timestamp_seconds\{database="lapse",kind="manual"\} \d+/m);

      await stack.s3.down();
      const outageStart = Date.now();
      let during: { json: Record<string, unknown>; text: string } | undefined;
      let scraped = '';
      while (Date.now() - outageStart < 3 * reminderMs) {
        await monitor('lapse');
        if (!during && Date.now() - outageStart > reminderMs + 5_000) {
          const [json, text] = await Promise.all([cli(['--json', 'status', '--db', 'lapse']), cli(['status', '--db', 'lapse'])]);
          assert.equal(json.exitCode, 0, `status --json during the outage: ${json.stderr}`);
          during = { json: JSON.parse(json.stdout).result.databases[0], text: text.stdout };
          await new Promise((r) => setTimeout(r, refreshMs + 500)); // past the metrics' refresh interval
          scraped = await (await fetch(metrics.url)).text();
        }
        await new Promise((r) => setTimeout(r, 8_000));
      }
      const outageMs = Date.now() - outageStart;
      await stack.s3.up();

      // The repository is back; the drill passes once items has a row.
      await stack.pg.query('lapse', "INSERT INTO items (name) VALUES ('back')");
      await backup('lapse');
      await waitFor<DrillResult>(await startDrill(stack.env.client, config, { database: 'lapse' }));
      await monitor('lapse');
      await pagerduty.waitFor((r) => r.json?.dedup_key === 'pgwarden/lapse/drill-failed' && r.json.event_action === 'resolve');
      // Sent by the monitor run above (asserted below with everything else that was opened).
      await pagerduty.waitFor((r) => r.json?.dedup_key === 'pgwarden/lapse/repository-unreachable' && r.json.event_action === 'resolve', 10_000).catch(() => undefined);

      // At most what the README promises: once, then once per reminder interval; every incident opened is resolved.
      const lapse = pagerduty.received.filter((r) => String(r.json?.dedup_key ?? '').startsWith('pgwarden/lapse/') && r.status === 202);
      const keys = [...new Set(lapse.map((r) => r.json.dedup_key as string))].sort();
      const allowed = 1 + Math.floor(outageMs / reminderMs);
      for (const key of keys) {
        const events = lapse.filter((r) => r.json.dedup_key === key).map((r) => r.json.event_action as string);
        assert.equal(events.at(-1), 'resolve', `${key}: ${events.join(', ')}`);
        assert.ok(events.filter((e) => e === 'trigger').length <= allowed + 1, `${key}: ${events.join(', ')} (at most ${allowed} during the outage)`);
      }
      assert.deepEqual(keys, ['pgwarden/lapse/drill-failed', 'pgwarden/lapse/repository-unreachable'], 'nothing but the outage and the drill fired');
      const unreachable = lapse.filter((r) => r.json.dedup_key === 'pgwarden/lapse/repository-unreachable' && r.json.event_action === 'trigger');
      assert.ok(unreachable.length >= 2 && unreachable.length <= allowed, `repository-unreachable sent ${unreachable.length} time(s) in ${outageMs} ms`);
      assert.ok(slack.received.some((r) => /still firing.*lapse.*restore drill/.test(r.json?.text ?? '')), 'the drill alert (a job alert) was reminded');

      // What the outage looked like from outside.
      assert.ok(during, 'status ran during the outage');
      assert.match(during.text, /ALERT {5}SEV-2 repository-unreachable since .*cannot read repository "s3"/);
      assert.match(during.text, /ALERT {5}SEV-2 drill-failed/, 'alerts raised before the outage are still shown');
      assert.match(during.text, /verify {4}unknown \(repository "s3" unreadable/);
      assert.match(during.text, /drill {5}unknown \(repository "s3" unreadable/);
      assert.match(scraped, /^pgwarden_repository_readable\{database="lapse",repository="s3"\} 0$/m);
      assert.match(scraped, /^pgwarden_backup_last_success_timestamp_seconds\{database="lapse",kind="manual"\} \d+/m, 'the last known backup stays exported');
      assert.match(scraped, /^pgwarden_alert_firing\{database="lapse",rule="repository-unreachable",severity="SEV-2"\} 1$/m);
      const ping = await healthchecks.waitFor((r) => r.path === '/pingkey-test/lapse-monitor' && /2 alert\(s\) firing/.test(r.text));
      assert.ok(ping, 'the monitor counts the job alert that is firing too');
    } finally {
      await stack.s3.up();
      await metrics.close();
    }
  });
});

describe('a worker that shuts down while an alert waits for its ledger', () => {
  test('stops within its grace and clean-up time: the wait ends with the activity, whose attempt is left to run again', async () => {
    // The only worker of its queue is the one that would move the ledger on: once it stops polling, the update that
    // recordAlerts waits for cannot be answered. Here the ledger runs on a queue nobody polls, which is the same
    // wait made certain. Before the fix the wait outlived the grace and the clean-up time (the worker failed with
    // GracefulShutdownPeriodExpiredError): the SDK's worker connection ignores abort signals.
    const alone = stack.config({ stuck: { db: 'tiny' } }, { worker: { shutdownGraceTime: '0.5s' } });
    const ledger = await stack.env.client.workflow.start('alertLedgerWorkflow', { taskQueue: `${alone.temporal.taskQueue}-nobody`, workflowId: alertLedgerWorkflowId('stuck'), args: [{ database: 'stuck' }] });
    const worker = await stack.worker(alone);
    const run = await stack.env.client.workflow.start('monitorWorkflow', { taskQueue: alone.temporal.taskQueue, workflowId: `${monitorWorkflowId('stuck')}-shutdown`, args: [{ database: 'stuck' }] });
    for (;;) {
      const pending = (await run.describe()).raw.pendingActivities ?? [];
      if (pending.some((a) => a.activityType?.name === 'recordAlerts' && a.lastWorkerIdentity)) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    await new Promise((resolve) => setTimeout(resolve, 500)); // well inside the update's wait
    await worker.stop(); // rejects with GracefulShutdownPeriodExpiredError when the activity outlives the force time
    const attempt = (await run.describe()).raw.pendingActivities?.find((a) => a.activityType?.name === 'recordAlerts');
    assert.match(attempt?.lastFailure?.message ?? '', /stopped because its worker shut down/, 'the attempt ended as stopped by the shutdown, to be run again');
    await ledger.terminate('test over');
    await run.terminate('test over');
  });
});
