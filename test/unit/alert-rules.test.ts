// The alert rules and their state: runbook thresholds as defaults, dedupe with reminders, resolves, and the
// request bodies each notification service documents.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { alertThresholds } from '../../config/alerts.js';
import { PgwardenError } from '../../domain/errors.js';
import { parseConfig } from '../../config/load.js';
import { pagerdutyEvent } from '../../activities/notify/pagerduty.js';
import { healthchecksUrl } from '../../activities/notify/healthchecks.js';
import { parseListenAddress } from '../../worker/metrics.js';
import * as rules from '../../domain/alert-rules.js';
import { applyObservation, healthObservations, outcomeObservations } from '../../domain/alert-rules.js';
import { humanDuration } from '../../domain/format.js';
import type { AlertObservation, JobOutcome } from '../../domain/alerts.js';
import type { DatabaseHealth } from '../../domain/health.js';

const H = 3_600_000;
const base = {
  repositories: { local: { type: 'fs', path: '/var/backups/pgwarden' } },
  databases: {
    prod: { connection: { env: 'PROD_URL' } },
    stage: { connection: { env: 'STAGE_URL' }, environment: 'staging', pitr: { retention: '3d' } },
    dev: { connection: { env: 'DEV_URL' }, environment: 'development', alerts: { minBackupSize: false, severity: { 'backup-failed': 'SEV-1' } } },
  },
};

test("the runbook's thresholds are the defaults: 1 KiB SEV-1, 26 h in production and RPO + 2 h elsewhere, 1 h upload; PITR lag = RPO, window = retention", () => {
  const config = parseConfig(base);
  const prod = alertThresholds(config, 'prod');
  assert.equal(prod.minBackupSize, 1024);
  assert.equal(prod.maxBackupAge, 26 * H);
  assert.equal(prod.maxUploadTime, H);
  assert.equal(prod.maxWalLag, undefined, 'no WAL archive, no lag rule');
  assert.equal(prod.severity['backup-too-small'], 'SEV-1');
  assert.equal(prod.severity['drill-failed'], 'SEV-2');
  const stage = alertThresholds(config, 'stage');
  assert.equal(stage.maxBackupAge, 7 * 24 * H + 2 * H);
  assert.equal(stage.maxWalLag, 7 * 24 * H);
  assert.equal(stage.minRestoreWindow, 3 * 24 * H);
  const dev = alertThresholds(config, 'dev');
  assert.equal(dev.maxBackupAge, undefined, 'no RPO, no age rule');
  assert.equal(dev.minBackupSize, undefined, 'turned off with false');
  assert.equal(dev.severity['backup-failed'], 'SEV-1');
});

test('alert settings are checked at load time: secrets only as variable names, assertions need sql or table and one expectation', () => {
  const invalid = (extra: object) => {
    try {
      parseConfig({ ...base, ...extra });
    } catch (error) {
      assert.ok(error instanceof PgwardenError);
      return error.message;
    }
    assert.fail('accepted');
  };
  assert.match(invalid({ alerts: { slack: { webhookUrlEnv: 'https://hooks.slack.com/services/x' } } }), /alerts\.slack\.webhookUrlEnv: must be the NAME of an environment variable/);
  assert.match(invalid({ alerts: { minBackupSize: 'tiny' } }), /alerts\.minBackupSize/);
  const withDrill = (drill: object) => ({ databases: { ...base.databases, prod: { connection: { env: 'PROD_URL' }, drill } } });
  assert.match(invalid(withDrill({ assertions: [{ sql: 'SELECT 1' }] })), /databases\.prod\.drill\.assertions\.0: give either minRows: N or equalsSource: true/);
  assert.match(invalid(withDrill({ assertions: [{ minRows: 1 }] })), /give either sql: or table:/);
  assert.match(invalid(withDrill({ assertions: [{ table: 'orders; DROP TABLE x', minRows: 1 }] })), /must be a table name/);
});

const observation = (firing: boolean, at: number): AlertObservation => ({ rule: 'backup-too-old', firing, summary: firing ? 'old' : 'fresh', at: new Date(at).toISOString() });

test('an alert that stays true is sent once, reminded after the reminder interval, resolved when it clears; older news is ignored', () => {
  const t0 = Date.parse('2026-11-25T02:00:00Z');
  const first = applyObservation(undefined, observation(true, t0), 'SEV-2', 4 * H, t0);
  assert.equal(first.action, 'trigger');
  const again = applyObservation(first.state, observation(true, t0 + 15 * 60_000), 'SEV-2', 4 * H, t0 + 15 * 60_000);
  assert.equal(again.action, undefined, 'not every 15 minutes');
  const reminded = applyObservation(again.state, observation(true, t0 + 4 * H), 'SEV-2', 4 * H, t0 + 4 * H);
  assert.equal(reminded.action, 'remind');
  assert.equal(reminded.state.since, first.state.since, 'since when: the first time it fired');
  const resolved = applyObservation(reminded.state, observation(false, t0 + 5 * H), 'SEV-2', 4 * H, t0 + 5 * H);
  assert.equal(resolved.action, 'resolve');
  assert.equal(resolved.state.generation, first.state.generation + 1, 'an older trigger still in delivery is now outdated');
  const stale = applyObservation(resolved.state, observation(true, t0 + 4.5 * H), 'SEV-2', 4 * H, t0 + 6 * H);
  assert.equal(stale.action, undefined, 'a slow notification of an earlier job does not undo a later one');
  assert.equal(stale.changed, false);
});

test('a job outcome fires its failure rule at once and clears it on success; only a full verification clears a verification alert', () => {
  const thresholds = alertThresholds(parseConfig(base), 'prod');
  const outcome = (extra: Partial<JobOutcome>): JobOutcome => ({ job: 'daily', rule: 'backup-failed', ok: true, startedAt: 'a', finishedAt: '2026-11-25T02:10:00Z', durationMs: 1, workflowId: 'w', runId: 'r', ...extra });
  assert.deepEqual(outcomeObservations(outcome({ ok: false, error: 'pg_dump failed' }), thresholds).map((o) => [o.rule, o.firing]), [['backup-failed', true]]);
  assert.deepEqual(outcomeObservations(outcome({ ok: false, cancelled: true }), thresholds), [], 'a cancelled job is not a failure');
  assert.deepEqual(outcomeObservations(outcome({ backupId: 'b', dataBytes: 200, storedBytes: 1500 }), thresholds).map((o) => [o.rule, o.firing]), [['backup-failed', false], ['backup-too-small', true]]);
  assert.deepEqual(outcomeObservations(outcome({ rule: 'verify-failed', job: 'verify', partial: true }), thresholds), []);
  assert.deepEqual(outcomeObservations(outcome({ rule: 'verify-failed', job: 'verify' }), thresholds).map((o) => [o.rule, o.firing]), [['verify-failed', false]]);
});

test('the monitor fires on an old backup, a stuck upload, WAL lag and a short window, but not on an archive that is still filling', () => {
  const config = parseConfig(base);
  const now = Date.parse('2026-11-25T12:00:00Z');
  const iso = (ms: number) => new Date(ms).toISOString();
  const health: DatabaseHealth = {
    database: 'stage',
    environment: 'staging',
    checkedAt: iso(now),
    logical: { repository: 'local', byKind: {}, count: 1, newest: { id: 'b1', kind: 'daily', startedAt: iso(now - 8 * 24 * H), finishedAt: iso(now - 8 * 24 * H + 60_000), storedBytes: 5000, durationMs: 60_000 } },
    wal: { repository: 'local', gaps: 0, lagMs: 8 * 24 * H, newest: 'x', newestAt: iso(now - 8 * 24 * H), window: { from: iso(now - 24 * H), to: iso(now) }, archiveSince: iso(now - 30 * 24 * H) },
    running: [{ workflowType: 'backupWorkflow', workflowId: 'pgwarden-backup-stage', runId: 'r', startedAt: iso(now - 2 * H) }],
    alerts: [],
  };
  const fired = Object.fromEntries(healthObservations(health, alertThresholds(config, 'stage'), now).map((o) => [o.rule, o.firing]));
  assert.deepEqual(fired, { 'backup-too-old': true, 'backup-slow': true, 'wal-lag': true, 'restore-window': true });
  const young = healthObservations({ ...health, wal: { ...health.wal!, archiveSince: iso(now - 24 * H) } }, alertThresholds(config, 'stage'), now);
  assert.equal(young.find((o) => o.rule === 'restore-window')?.firing, false);
});

test("PagerDuty events and healthchecks URLs follow the services' documented shapes", () => {
  const alert = { database: 'cartly', rule: 'backup-too-old' as const, severity: 'SEV-2' as const, action: 'trigger' as const, summary: 'old', since: 's', observedAt: 'o', generation: 1 };
  const trigger = pagerdutyEvent('KEY', alert);
  assert.deepEqual([trigger.routing_key, trigger.event_action, trigger.dedup_key], ['KEY', 'trigger', 'pgwarden/cartly/backup-too-old']);
  assert.deepEqual(Object.keys(trigger.payload as object).slice(0, 3), ['summary', 'source', 'severity']);
  assert.deepEqual(pagerdutyEvent('KEY', { ...alert, action: 'resolve' }), { routing_key: 'KEY', event_action: 'resolve', dedup_key: 'pgwarden/cartly/backup-too-old' });
  assert.equal(
    healthchecksUrl('https://hc.example.com/', 'pk', 'cartly', { job: 'daily', event: 'fail', runId: 'r-1', message: '' }),
    'https://hc.example.com/pk/cartly-daily/fail?create=1&rid=r-1',
  );
});

test('--metrics takes HOST:PORT, :PORT or PORT', () => {
  assert.deepEqual(parseListenAddress('0.0.0.0:9464'), { host: '0.0.0.0', port: 9464 });
  assert.deepEqual(parseListenAddress(':9464'), { host: '0.0.0.0', port: 9464 });
  assert.deepEqual(parseListenAddress('9464'), { host: '0.0.0.0', port: 9464 });
  assert.deepEqual(parseListenAddress('[::1]:9464'), { host: '::1', port: 9464 });
  assert.throws(() => parseListenAddress('localhost'), /HOST:PORT/);
});

const jobOutcome = (extra: Record<string, unknown>): JobOutcome => ({ job: 'daily', rule: 'backup-failed', ok: true, startedAt: 'a', finishedAt: '2026-11-25T02:10:00Z', durationMs: 1, workflowId: 'w', runId: 'r', ...extra }) as JobOutcome;

test('an emptied database is caught: three tables without rows are 1.5 KiB of COPY framing, and no rows is too small', () => {
  const config = parseConfig(base);
  const [, small] = outcomeObservations(jobOutcome({ backupId: 'b1', storedBytes: 2_000, dataBytes: 1_536, rows: 0 }), alertThresholds(config, 'prod'));
  assert.equal(small?.rule, 'backup-too-small');
  assert.equal(small?.firing, true, small?.summary);
  const [, full] = outcomeObservations(jobOutcome({ backupId: 'b2', storedBytes: 9_000, dataBytes: 8_000, rows: 120 }), alertThresholds(config, 'prod'));
  assert.equal(full?.firing, false);
});

test('alert texts say a thing once and round durations honestly', () => {
  const config = parseConfig(base);
  const [failed] = outcomeObservations(jobOutcome({ ok: false, error: 'backup failed: could not connect to server' }), alertThresholds(config, 'prod'));
  assert.equal(failed?.summary, 'backup failed: could not connect to server');
  assert.equal(humanDuration(211), '211 ms');
  assert.equal(humanDuration(90_000), '1m 30s');
});

test('an unreadable repository is one alert of its own; the rules whose facts it holds are neither fired nor cleared', () => {
  const config = parseConfig(base);
  const now = Date.parse('2026-11-25T12:00:00Z');
  const health = { database: 'prod', environment: 'production', checkedAt: 'x', logical: { repository: 'local', error: 'connect ECONNREFUSED', byKind: {}, count: 0 }, alerts: [] } as DatabaseHealth;
  const observe = healthObservations as (...args: unknown[]) => AlertObservation[];
  const seen = observe(health, alertThresholds(config, 'prod'), now, { unknownWhenUnreadable: true });
  assert.deepEqual(seen.map((o) => [o.rule, o.firing]), [['repository-unreachable', true]]);
  assert.match(seen[0]!.summary, /cannot read repository "local" \(backups\): connect ECONNREFUSED/);
  const back = observe({ ...health, logical: { repository: 'local', byKind: {}, count: 0 } }, alertThresholds(config, 'prod'), now, { unknownWhenUnreadable: true });
  assert.deepEqual(back.find((o) => o.rule === 'repository-unreachable')?.firing, false);
});

test('the ledger reminds a job alert nobody observes again after the reminder interval, once per interval', () => {
  const fold = (rules as Record<string, unknown>).foldRecord as undefined | ((...args: unknown[]) => { notifications: Array<{ rule: string; action: string }>; firing: unknown[] });
  assert.ok(fold, 'domain/alert-rules.ts folds records for the alert ledger');
  const config = parseConfig(base);
  const thresholds = alertThresholds(config, 'prod');
  const record = (observations: AlertObservation[]) => ({ observations, severity: thresholds.severity, reminderMs: 4 * H });
  const states = new Map();
  const t0 = Date.parse('2026-11-25T02:00:00Z');
  const failed: AlertObservation = { rule: 'drill-failed', firing: true, at: new Date(t0).toISOString(), summary: 'restore drill failed: assertion' };
  assert.deepEqual(fold(states, 'prod', record([failed]), t0).notifications.map((n) => n.action), ['trigger']);
  assert.deepEqual(fold(states, 'prod', record([]), t0 + H).notifications, [], 'not before the interval');
  const later = fold(states, 'prod', record([]), t0 + 4 * H);
  assert.deepEqual(later.notifications.map((n) => [n.rule, n.action]), [['drill-failed', 'remind']]);
  assert.equal(later.firing.length, 1);
  assert.deepEqual(fold(states, 'prod', record([]), t0 + 5 * H).notifications, [], 'once per interval');
});

test("a firing alert's text in status gives the backup's age now, not when it fired", () => {
  const current = (rules as Record<string, unknown>).currentSummary as undefined | ((state: unknown, now: number) => string);
  assert.ok(current, 'domain/alert-rules.ts renders a state as of now');
  const config = parseConfig(base);
  const now = Date.parse('2026-11-25T12:00:00Z');
  const health = { database: 'prod', environment: 'production', checkedAt: 'x', logical: { repository: 'local', byKind: {}, count: 1, newest: { id: 'b1', kind: 'daily', startedAt: '2026-11-24T09:00:00Z', finishedAt: '2026-11-24T09:00:00Z', storedBytes: 1, durationMs: 1 } }, alerts: [] } as DatabaseHealth;
  const [old] = healthObservations(health, alertThresholds(config, 'prod'), now);
  assert.match(old!.summary, /finished 27h ago/);
  assert.match(current({ rule: 'backup-too-old', summary: old!.summary, details: old!.details }, now + 2 * H), /finished 29h ago \(alert after 26h\)/);
});
