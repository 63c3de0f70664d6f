// The alert rules: which facts make which alert fire or clear, and when a firing alert is sent again.
// Pure and deterministic: workflows evaluate them (the decisions land in their histories), activities apply
// them to the stored alert state, tests call them directly.
import { ApplicationFailure, TemporalFailure } from '@temporalio/common';
import type { LedgerRecord, LedgerRecorded } from './alert-ledger.js';
import { JOB_RULES, type AlertNotification, type AlertObservation, type AlertRule, type AlertState, type AlertThresholds, type JobOutcome, type Severity } from './alerts.js';
import type { DatabaseHealth } from './health.js';
import { formatBytes, humanDuration } from './format.js';

const H = 3_600_000;

/**
 * What a finished job (backup, base backup, retention, drill, verification) says about its rules: a failure
 * fires its rule at once; a success clears it. A backup also fires or clears the size rule.
 */
export function outcomeObservations(outcome: JobOutcome, thresholds: AlertThresholds): AlertObservation[] {
  const at = outcome.finishedAt;
  const link = { workflowId: outcome.workflowId, runId: outcome.runId };
  const observations: AlertObservation[] = [];
  const what = JOB_TEXT[outcome.rule];
  if (!outcome.ok) {
    if (!outcome.cancelled) {
      // The error often says it already ("backup failed: …"): say it once.
      const error = (outcome.error ?? 'unknown error').replace(new RegExp(`^(${what} failed:\\s*)+`, 'i'), '');
      observations.push({ rule: outcome.rule, firing: true, at, link, summary: `${what} failed: ${error}`, details: { job: outcome.job } });
    }
    return observations;
  }
  // A verification of only some backups proves nothing about the others: only a full one clears the alert.
  if (!(outcome.rule === 'verify-failed' && outcome.partial)) {
    observations.push({ rule: outcome.rule, firing: false, at, link, summary: `${what} succeeded`, details: { job: outcome.job } });
  }
  const size = outcome.dataBytes ?? outcome.storedBytes;
  if (outcome.rule === 'backup-failed' && size !== undefined && thresholds.minBackupSize !== undefined) {
    // Tables without rows still take pg_dump's framing (a COPY header and trailer each): rows say "empty" exactly.
    const empty = outcome.rows === 0;
    const tiny = empty || size < thresholds.minBackupSize;
    const held = outcome.dataBytes !== undefined ? `${formatBytes(outcome.dataBytes)} of table data${outcome.rows !== undefined ? ` in ${outcome.rows} row(s)` : ''}` : `${formatBytes(size)}`;
    const limit = formatBytes(thresholds.minBackupSize);
    observations.push({
      rule: 'backup-too-small',
      firing: tiny,
      at,
      link,
      summary: !tiny
        ? `backup ${outcome.backupId} holds ${held}`
        : `backup ${outcome.backupId} holds ${empty ? `no rows (${formatBytes(size)} of table data, all of it dump framing; alert below ${limit} or without rows)` : `only ${held} (alert below ${limit})`}: the database is empty, the wrong one, or the dump was cut short; check the source and the backup's workflow`,
      details: {
        backupId: outcome.backupId ?? '',
        ...(outcome.storedBytes !== undefined ? { storedBytes: outcome.storedBytes } : {}),
        ...(outcome.dataBytes !== undefined ? { dataBytes: outcome.dataBytes } : {}),
        ...(outcome.rows !== undefined ? { rows: outcome.rows } : {}),
      },
    });
  }
  return observations;
}

const JOB_TEXT: Record<JobOutcome['rule'], string> = {
  'backup-failed': 'backup',
  'basebackup-failed': 'base backup',
  'expire-failed': 'retention',
  'drill-failed': 'restore drill',
  'verify-failed': 'integrity verification',
};

export interface HealthRules {
  /**
   * A repository that cannot be read is one alert of its own (repository-unreachable), and the rules whose facts
   * are in it are unknown: neither fired nor cleared. Off only for monitor runs started before this existed.
   */
  unknownWhenUnreadable?: boolean;
}

/**
 * What the monitor concludes from the repositories (and Temporal) about ages, lags and windows. One block per
 * rule, side by side (about 100 lines), so each threshold's firing and clearing text can be read together.
 */
export function healthObservations(health: DatabaseHealth, thresholds: AlertThresholds, nowMs: number, rules: HealthRules = {}): AlertObservation[] {
  const at = new Date(nowMs).toISOString();
  const out: AlertObservation[] = [];
  const logical = health.logical;
  const unknown = rules.unknownWhenUnreadable === true;

  if (unknown) {
    const unreadable = [
      ...(logical.error ? [`"${logical.repository}" (backups): ${logical.error}`] : []),
      ...(health.base?.error ? [`"${health.base.repository}" (base backups): ${health.base.error}`] : []),
      ...(health.wal?.error ? [`"${health.wal.repository}" (WAL archive): ${health.wal.error}`] : []),
    ];
    out.push({
      rule: 'repository-unreachable',
      firing: unreadable.length > 0,
      at,
      summary: unreadable.length
        ? `cannot read repository ${unreadable.join('; ')}. Backup age, WAL lag and restore window are unknown until it answers: check the storage endpoint, its credentials and \`pgwarden config check\``
        : `every repository answers`,
    });
  }

  if (thresholds.maxBackupAge !== undefined && !(unknown && logical.error)) {
    const limit = humanDuration(thresholds.maxBackupAge);
    if (logical.error) {
      out.push({ rule: 'backup-too-old', firing: true, at, summary: `cannot read repository "${logical.repository}" to find the newest backup: ${logical.error}` });
    } else if (!logical.newest) {
      out.push({ rule: 'backup-too-old', firing: true, at, summary: `no complete backup in repository "${logical.repository}" (alert when none is younger than ${limit})` });
    } else {
      const age = nowMs - Date.parse(logical.newest.finishedAt);
      out.push({
        rule: 'backup-too-old',
        firing: age > thresholds.maxBackupAge,
        at,
        summary: backupAgeText(logical.newest.id, age, thresholds.maxBackupAge),
        details: { backupId: logical.newest.id, finishedAt: logical.newest.finishedAt, ageSeconds: Math.round(age / 1_000), limitSeconds: Math.round(thresholds.maxBackupAge / 1_000) },
      });
    }
  }

  if (thresholds.maxUploadTime !== undefined) {
    const limit = thresholds.maxUploadTime;
    const running = (health.running ?? []).filter((r) => r.workflowType === 'backupWorkflow' && nowMs - Date.parse(r.startedAt) > limit);
    if (running[0]) {
      const r = running[0];
      out.push({
        rule: 'backup-slow',
        firing: true,
        at,
        link: { workflowId: r.workflowId, runId: r.runId },
        summary: `a backup has been running for ${humanDuration(nowMs - Date.parse(r.startedAt))} (alert after ${humanDuration(limit)}): dump or upload is stuck or too slow`,
      });
    } else if (logical.newest && logical.newest.durationMs > limit) {
      out.push({
        rule: 'backup-slow',
        firing: true,
        at,
        summary: `backup ${logical.newest.id} took ${humanDuration(logical.newest.durationMs)} to dump and upload (alert after ${humanDuration(limit)})`,
      });
    } else if (!logical.error) {
      out.push({ rule: 'backup-slow', firing: false, at, summary: logical.newest ? `backup ${logical.newest.id} took ${humanDuration(logical.newest.durationMs)}` : 'no backup running' });
    }
  }

  const wal = health.wal;
  if (wal && thresholds.maxWalLag !== undefined && !(unknown && wal.error)) {
    const limit = humanDuration(thresholds.maxWalLag);
    if (wal.error) out.push({ rule: 'wal-lag', firing: true, at, summary: `cannot read the WAL archive in repository "${wal.repository}": ${wal.error}` });
    else if (wal.lagMs === undefined) out.push({ rule: 'wal-lag', firing: true, at, summary: `the WAL archive in repository "${wal.repository}" is empty: is archive_command set to pgwarden wal-push?` });
    else {
      out.push({
        rule: 'wal-lag',
        firing: wal.lagMs > thresholds.maxWalLag,
        at,
        summary:
          wal.lagMs > thresholds.maxWalLag
            ? `WAL archiving is ${humanDuration(wal.lagMs)} behind (newest archived ${wal.newest ?? '?'} closed ${wal.newestAt ?? '?'}; alert above ${limit}): check archive_command and \`pgwarden wal status\``
            : `WAL archive lag ${humanDuration(wal.lagMs)}`,
        details: { lagSeconds: Math.round(wal.lagMs / 1_000), newest: wal.newest ?? '' },
      });
    }
  }
  if (wal && !wal.error && thresholds.minRestoreWindow !== undefined) {
    const want = thresholds.minRestoreWindow;
    if (!wal.window) {
      out.push({ rule: 'restore-window', firing: true, at, summary: `no point-in-time restore is possible: no base backup with complete WAL after it (take one: pgwarden basebackup)` });
    } else {
      const length = Date.parse(wal.window.to) - Date.parse(wal.window.from);
      // A new archive cannot have a full window yet: only alert once it has existed for as long as asked.
      const young = wal.archiveSince !== undefined && nowMs - Date.parse(wal.archiveSince) < want;
      out.push({
        rule: 'restore-window',
        firing: length < want && !young,
        at,
        summary: `restore window ${wal.window.from} to ${wal.window.to} (${humanDuration(length)}; alert below ${humanDuration(want)}${young ? ', archive still filling' : ''})`,
        details: { from: wal.window.from, to: wal.window.to },
      });
    }
  }
  return out;
}

function backupAgeText(backupId: string, ageMs: number, limitMs: number): string {
  return `the newest backup (${backupId}) finished ${humanDuration(ageMs)} ago (alert after ${humanDuration(limitMs)})`;
}

/** A state's summary as of `nowMs`: an age in it is the age now, not at the moment it was observed. */
export function currentSummary(state: Pick<AlertState, 'rule' | 'summary' | 'details'>, nowMs: number): string {
  const d = state.details;
  if (state.rule === 'backup-too-old' && typeof d?.backupId === 'string' && typeof d.finishedAt === 'string' && typeof d.limitSeconds === 'number') {
    return backupAgeText(d.backupId, nowMs - Date.parse(d.finishedAt), d.limitSeconds * 1_000);
  }
  return state.summary;
}

/**
 * The ledger's fold: each observation into its rule's state (applyObservation), then the job rules nobody
 * observed that are still firing and due a reminder. Every observation is kept, so a summary is as fresh as
 * the last look at it. Mutates `states`.
 */
export function foldRecord(states: Map<string, AlertState>, database: string, record: LedgerRecord, nowMs: number): LedgerRecorded {
  const notifications: AlertNotification[] = [];
  const changed: AlertState[] = [];
  for (const observation of record.observations) {
    const applied = applyObservation(states.get(observation.rule), observation, record.severity[observation.rule] ?? 'SEV-2', record.reminderMs, nowMs);
    if (applied.state !== states.get(observation.rule)) states.set(observation.rule, applied.state);
    if (applied.changed) changed.push(applied.state);
    if (applied.action) notifications.push(notificationFor(database, applied.state, applied.action));
  }
  const observed = new Set(record.observations.map((o) => o.rule));
  for (const rule of JOB_RULES) {
    const state = states.get(rule);
    if (!state?.firing || observed.has(rule)) continue;
    if (state.lastSentAt && nowMs - Date.parse(state.lastSentAt) < record.reminderMs) continue;
    const reminded: AlertState = { ...state, lastSentAt: new Date(nowMs).toISOString() };
    states.set(rule, reminded);
    changed.push(reminded);
    notifications.push(notificationFor(database, reminded, 'remind'));
  }
  return { notifications, changed, firing: [...states.values()].filter((s) => s.firing) };
}

export interface AppliedObservation {
  state: AlertState;
  /** What to send, if anything. */
  action?: 'trigger' | 'remind' | 'resolve';
  /** The state changed and must be stored. */
  changed: boolean;
}

/**
 * Folds one observation into a rule's stored state: a new alert triggers, one that stays true is reminded of
 * only every `reminderMs`, one that clears resolves. Observations older than the state are ignored (a slow
 * notification of an earlier job must not undo a later one).
 */
export function applyObservation(previous: AlertState | undefined, observation: AlertObservation, severity: Severity, reminderMs: number, nowMs: number): AppliedObservation {
  if (previous && Date.parse(observation.at) < Date.parse(previous.observedAt)) return { state: previous, changed: false };
  const now = new Date(nowMs).toISOString();
  const base = { rule: observation.rule, severity, summary: observation.summary, observedAt: observation.at, ...(observation.details ? { details: observation.details } : {}), ...(observation.link ? { link: observation.link } : {}) };
  const wasFiring = previous?.firing ?? false;
  const generation = previous?.generation ?? 0;
  if (observation.firing && !wasFiring) {
    return { state: { ...base, firing: true, since: observation.at, lastSentAt: now, generation: generation + 1 }, action: 'trigger', changed: true };
  }
  if (observation.firing && wasFiring) {
    const due = !previous!.lastSentAt || nowMs - Date.parse(previous!.lastSentAt) >= reminderMs;
    const escalated = severity === 'SEV-1' && previous!.severity !== 'SEV-1';
    const state: AlertState = { ...base, firing: true, since: previous!.since ?? observation.at, lastSentAt: due || escalated ? now : previous!.lastSentAt!, generation };
    return { state, ...(due || escalated ? { action: 'remind' as const } : {}), changed: due || escalated };
  }
  if (!observation.firing && wasFiring) {
    return { state: { ...base, firing: false, since: previous!.since ?? observation.at, lastSentAt: now, generation: generation + 1 }, action: 'resolve', changed: true };
  }
  // Quiet and still quiet: stored when new, and for a job's outcome (its time orders later outcomes against it).
  const state: AlertState = { ...base, firing: false, generation, ...(previous?.since ? { since: previous.since } : {}), ...(previous?.lastSentAt ? { lastSentAt: previous.lastSentAt } : {}) };
  return { state, changed: previous === undefined || observation.link !== undefined };
}

/** The notification for an action on a rule's state. */
export function notificationFor(database: string, state: AlertState, action: 'trigger' | 'remind' | 'resolve'): AlertNotification {
  return {
    database,
    rule: state.rule as AlertRule,
    severity: state.severity,
    action,
    summary: state.summary,
    since: state.since ?? state.observedAt,
    observedAt: state.observedAt,
    generation: state.generation,
    ...(state.details ? { details: state.details } : {}),
    ...(state.link ? { link: state.link } : {}),
  };
}

/** Runbook default for the backup-age rule: 26 h in production (the 24 h RPO plus a backup's run), else RPO + 2 h. */
export function defaultMaxBackupAge(rpoMs: number | undefined): number | undefined {
  return rpoMs === undefined ? undefined : rpoMs + 2 * H;
}

/** The innermost application failure says what went wrong ("Activity task failed" says nothing). */
export function failureText(error: unknown): string {
  let text = error instanceof Error ? error.message : String(error);
  for (let cause: unknown = error; cause instanceof TemporalFailure; cause = cause.cause) {
    if (cause instanceof ApplicationFailure && cause.message) text = cause.message;
  }
  return text.length > 800 ? `${text.slice(0, 800)}…` : text;
}
