// pgwarden status [--db NAME]: one view of every database: newest backups against the RPO, the last verification
// and drill, the PITR window, alerts firing, what is running and what is scheduled next. The repositories answer
// even when Temporal does not.
import type { Client } from '@temporalio/client';
import { databaseHealth } from '../../activities/catalog/health.js';
import { alertThresholds } from '../../config/alerts.js';
import { currentSummary } from '../../domain/alert-rules.js';
import { databaseView } from '../../config/load.js';
import { connectClient } from '../../worker/temporal.js';
import type { DatabaseHealth } from '../../domain/health.js';
import type { CommandContext } from '../context.js';
import { unpauseCommand } from '../schedules.js';
import { formatBytes, formatDuration } from '../output.js';

export interface DatabaseStatus extends DatabaseHealth {
  /** Next run of each schedule that is not paused ("pgwarden-cartly-daily" -> ISO time), from Temporal. */
  nextRuns?: Record<string, string>;
  /** Paused schedules, which start nothing until resumed: id -> the pause's note ("" when it gave none). */
  pausedSchedules?: Record<string, string>;
}

export interface StatusResult {
  temporal: { address: string; reachable: boolean; error?: string };
  databases: DatabaseStatus[];
}

export async function statusCommand(ctx: CommandContext, options: { db?: string }): Promise<void> {
  const config = ctx.config;
  const names = options.db ? [databaseView(config, options.db).name] : Object.keys(config.databases);
  let client: Client | undefined;
  let temporalError: string | undefined;
  try {
    client = await connectClient(config);
    await client.workflowService.getSystemInfo({});
  } catch (error) {
    temporalError = (error as Error).message.split('\n')[0];
    await client?.connection.close().catch(() => undefined);
    client = undefined;
  }
  try {
    const schedules = client ? await scheduleStates(client) : undefined;
    const databases = await Promise.all(
      names.map(async (name): Promise<DatabaseStatus> => {
        const health = await databaseHealth(config, name, client ? { temporal: client } : {});
        const own = (all: Record<string, string>) => Object.fromEntries(Object.entries(all).filter(([id]) => id.startsWith(`pgwarden-${name}-`)));
        const paused = schedules ? own(schedules.paused) : {};
        return { ...health, ...(schedules ? { nextRuns: own(schedules.next) } : {}), ...(Object.keys(paused).length ? { pausedSchedules: paused } : {}) };
      }),
    );
    const result: StatusResult = { temporal: { address: config.temporal.address, reachable: client !== undefined, ...(temporalError ? { error: temporalError } : {}) }, databases };
    ctx.out.result(result, () => describeStatus(ctx, result));
  } finally {
    await client?.connection.close().catch(() => undefined);
  }
}

/** When each pgwarden schedule runs next, and which are paused (Temporal still lists a paused schedule's next times). */
async function scheduleStates(client: Client): Promise<{ next: Record<string, string>; paused: Record<string, string> }> {
  const next: Record<string, string> = {};
  const paused: Record<string, string> = {};
  try {
    for await (const schedule of client.schedule.list()) {
      if (!schedule.scheduleId.startsWith('pgwarden-')) continue;
      if (schedule.state.paused) {
        // The note of a schedule pgwarden made and nobody paused with a reason is pgwarden's own description.
        const note = schedule.state.note ?? '';
        paused[schedule.scheduleId] = note.startsWith('pgwarden: ') ? '' : note;
        continue;
      }
      const at = schedule.info?.nextActionTimes?.[0];
      if (at) next[schedule.scheduleId] = at.toISOString();
    }
  } catch {
    /* schedules are extra information */
  }
  return { next, paused };
}

const ago = (iso: string, now: number) => `${formatDuration(Math.max(0, now - Date.parse(iso)))} ago`;
const short = (iso: string) => iso.replace('T', ' ').replace(/:\d\d(\.\d+)?Z$/, ' UTC');

function describeStatus(ctx: CommandContext, r: StatusResult): string {
  const now = Date.now();
  const lines: string[] = [];
  lines.push(
    r.temporal.reachable
      ? `Temporal at ${r.temporal.address}: reachable`
      : `Temporal at ${r.temporal.address}: NOT reachable (${r.temporal.error}); showing what the repositories say`,
  );
  for (const d of r.databases) {
    const thresholds = alertThresholds(ctx.config, d.database);
    lines.push('');
    const targets = [d.rtoMs !== undefined ? `RTO ${formatDuration(d.rtoMs)}` : '', d.rpoMs !== undefined ? `RPO ${formatDuration(d.rpoMs)}` : ''].filter(Boolean).join(', ');
    lines.push(`${d.database} (${d.environment}${targets ? `, ${targets}` : ''})`);
    if (d.logical.error) lines.push(`  backups   repository "${d.logical.repository}" unreadable: ${d.logical.error}`);
    else if (!d.logical.newest) lines.push(`  backups   none in "${d.logical.repository}"`);
    else {
      const age = now - Date.parse(d.logical.newest.finishedAt);
      const verdict = d.rpoMs === undefined ? '' : age <= d.rpoMs ? ': within the RPO' : ': OLDER than the RPO';
      lines.push(`  backups   ${d.logical.count} in "${d.logical.repository}"; newest ${d.logical.newest.id}, ${ago(d.logical.newest.finishedAt, now)}${verdict}`);
      for (const [kind, b] of Object.entries(d.logical.byKind)) {
        lines.push(`            ${kind.padEnd(13)} ${b.id}  ${ago(b.finishedAt, now).padEnd(14)} ${formatBytes(b.storedBytes).padStart(10)}  took ${formatDuration(b.durationMs)}`);
      }
    }
    if (d.base) {
      lines.push(`  base      ${d.base.error ? `unreadable: ${d.base.error}` : d.base.newest ? `${d.base.count}; newest ${d.base.newest.id}, ${ago(d.base.newest.finishedAt, now)}` : 'none yet: pgwarden basebackup'}`);
    }
    if (d.wal) {
      if (d.wal.error) lines.push(`  pitr      WAL archive unreadable: ${d.wal.error}`);
      else {
        const window = d.wal.window ? `restore window ${short(d.wal.window.from)} to ${short(d.wal.window.to)}` : 'no restore window';
        const lag = d.wal.lagMs === undefined ? 'nothing archived' : `WAL lag ${formatDuration(d.wal.lagMs)}`;
        lines.push(`  pitr      ${window}; ${lag}${d.wal.gaps ? `; ${d.wal.gaps} GAP(S)` : ''}`);
      }
    }
    // Not read is not the same as never: "unknown" says the repository did not answer.
    const never = (part: 'drill' | 'verify') => (d.unknown?.[part] ? `unknown (${d.unknown[part]})` : 'never');
    lines.push(
      `  verify    ${d.verify ? `${d.verify.ok ? 'passed' : 'FAILED'} ${ago(d.verify.checkedAt, now)} (${d.verify.backups.length} backup(s)${d.verify.wal ? `, ${d.verify.wal.segmentsChecked} WAL segments` : ''}${d.verify.complete ? '' : ', partial'})` : never('verify')}`,
    );
    if (d.drill) {
      const parts = d.drill.parts
        .map((p) => `${p.type} restore ${p.restoreMs !== undefined ? formatDuration(p.restoreMs) : '-'}${p.rtoMs !== undefined ? ` of RTO ${formatDuration(p.rtoMs)}` : ''}`)
        .join(', ');
      lines.push(`  drill     ${d.drill.passed ? 'passed' : 'FAILED'} ${ago(d.drill.startedAt, now)}: ${parts}`);
    } else lines.push(`  drill     ${never('drill')}`);
    const firing = d.alerts.filter((a) => a.firing);
    if (d.alertsFrom === 'unknown') lines.push(`  alerts    unknown (${d.unknown?.alerts ?? 'alert state unreadable'})`);
    else if (firing.length === 0) lines.push(`  alerts    none firing${thresholds.maxBackupAge !== undefined ? ` (backup age limit ${formatDuration(thresholds.maxBackupAge)})` : ''}`);
    for (const a of firing) lines.push(`  ALERT     ${a.severity} ${a.rule} since ${short(a.since ?? a.observedAt)}: ${currentSummary(a, now)}`);
    for (const c of d.channels ?? []) if (!c.ok) lines.push(`  CHANNEL   ${c.channel} REFUSED an alert at ${short(c.at)}: ${c.error ?? 'unknown error'} (run pgwarden config check --send-test)`);
    for (const job of d.running ?? []) {
      lines.push(`  running   ${job.workflowType} since ${short(job.startedAt)} (${job.workflowId}, run ${job.runId})`);
      // It holds its lock (the next start is refused) and waits for ever: say so, and how to end it.
      if (job.unserved) lines.push(`  STUCK     served by no worker: ${job.unserved}. End it: ${job.end}`);
    }
    if (d.nextRuns && Object.keys(d.nextRuns).length) {
      const next = Object.entries(d.nextRuns)
        .filter(([id]) => !id.endsWith('-monitor'))
        .sort(([, a], [, b]) => a.localeCompare(b))
        .slice(0, 3)
        .map(([id, at]) => `${id.slice(`pgwarden-${d.database}-`.length)} ${short(at)}`);
      if (next.length) lines.push(`  next      ${next.join('; ')}`);
    }
    for (const [id, note] of Object.entries(d.pausedSchedules ?? {}).sort()) {
      lines.push(`  PAUSED    ${id.slice(`pgwarden-${d.database}-`.length)}${note ? ` (${note})` : ''}: starts nothing until resumed (${unpauseCommand(id)})`);
    }
  }
  return lines.join('\n');
}
