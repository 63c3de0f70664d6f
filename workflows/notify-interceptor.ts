// Every job reports how it ended, without a line in the job's own code: this interceptor wraps the backup, base
// backup, retention, drill and verification workflows. At the start of a scheduled job it pings healthchecks; at
// the end it starts the notification workflow (abandoned: the job never waits for a notifier) with the outcome,
// which fires the job's failure alert at once or clears it, and pings success or fail with the duration.
import {
  CancellationScope,
  isCancellation,
  ParentClosePolicy,
  patched,
  startChild,
  workflowInfo,
  type Next,
  type WorkflowExecuteInput,
  type WorkflowInboundCallsInterceptor,
  type WorkflowInterceptorsFactory,
} from '@temporalio/workflow';
import { failureText } from '../domain/alert-rules.js';
import { humanDuration } from '../domain/format.js';
import type { JobOutcome, JobPing, NotifyInput } from '../domain/alerts.js';

/** Histories of jobs that started before this interceptor existed replay without it. */
const PATCH = 'pgwarden-job-notifications-v1';

/** Backup kinds that run on a schedule: their runs are pinged (a manual or pre-migration backup has no period). */
const SCHEDULED_KINDS = ['daily', 'weekly', 'monthly'];

interface Job {
  database: string;
  job: string;
  rule: JobOutcome['rule'];
  pings: boolean;
}

function jobOf(type: string, args: unknown[]): Job | undefined {
  const input = (args[0] ?? {}) as Record<string, unknown>;
  const database = typeof input.database === 'string' ? input.database : undefined;
  if (!database) return undefined;
  switch (type) {
    case 'backupWorkflow': {
      const kind = typeof input.kind === 'string' ? input.kind : 'manual';
      return { database, job: kind, rule: 'backup-failed', pings: SCHEDULED_KINDS.includes(kind) };
    }
    case 'baseBackupWorkflow':
      return { database, job: 'basebackup', rule: 'basebackup-failed', pings: true };
    case 'expireWorkflow':
      return input.dryRun ? undefined : { database, job: 'expire', rule: 'expire-failed', pings: true };
    case 'drillWorkflow':
      return { database, job: 'drill', rule: 'drill-failed', pings: true };
    case 'verifyWorkflow':
      return { database, job: 'verify', rule: 'verify-failed', pings: true };
    default:
      return undefined;
  }
}

class JobNotificationInterceptor implements WorkflowInboundCallsInterceptor {
  async execute(input: WorkflowExecuteInput, next: Next<WorkflowInboundCallsInterceptor, 'execute'>): Promise<unknown> {
    const info = workflowInfo();
    const job = jobOf(info.workflowType, input.args);
    if (!job || !patched(PATCH)) return next(input);
    const started = Date.now();
    const ping = (event: JobPing['event'], message: string): JobPing => ({ job: job.job, event, runId: info.runId, message, ...(event !== 'start' ? { durationMs: Date.now() - started } : {}) });
    const notify = (suffix: string, request: Omit<NotifyInput, 'database'>) =>
      startChild('notifyWorkflow', {
        workflowId: `pgwarden-notify-${info.runId}-${suffix}`,
        args: [{ database: job.database, ...request }],
        parentClosePolicy: ParentClosePolicy.ABANDON,
      }).then(
        () => undefined,
        () => undefined, // notifications must never break the job
      );
    if (job.pings) void notify('start', { ping: ping('start', `${job.job} of ${job.database} started (workflow ${info.workflowId})`) });

    const outcome = (ok: boolean, extra: Partial<JobOutcome>): JobOutcome => ({
      job: job.job,
      rule: job.rule,
      ok,
      startedAt: new Date(started).toISOString(),
      finishedAt: new Date().toISOString(),
      durationMs: Date.now() - started,
      workflowId: info.workflowId,
      runId: info.runId,
      ...extra,
    });
    let result: unknown;
    try {
      result = await next(input);
    } catch (error) {
      const cancelled = isCancellation(error);
      const text = cancelled ? 'cancelled' : failureText(error);
      await CancellationScope.nonCancellable(() =>
        notify('end', {
          outcome: outcome(false, { error: text, ...(cancelled ? { cancelled } : {}) }),
          ...(job.pings ? { ping: ping('fail', `${job.job} of ${job.database} failed after ${humanDuration(Date.now() - started)}: ${text}`) } : {}),
        }),
      );
      throw error;
    }
    const facts = (result ?? {}) as { backupId?: unknown; storedBytes?: unknown; complete?: unknown };
    const extra: Partial<JobOutcome> = {};
    if (typeof facts.backupId === 'string') extra.backupId = facts.backupId;
    if (job.rule === 'backup-failed' && typeof facts.storedBytes === 'number') extra.storedBytes = facts.storedBytes;
    if (job.rule === 'verify-failed' && facts.complete !== true) extra.partial = true;
    await notify('end', {
      outcome: outcome(true, extra),
      ...(job.pings ? { ping: ping('success', `${job.job} of ${job.database} succeeded in ${humanDuration(Date.now() - started)}${extra.backupId ? ` (backup ${extra.backupId})` : ''}`) } : {}),
    });
    return result;
  }
}

export const interceptors: WorkflowInterceptorsFactory = () => ({ inbound: [new JobNotificationInterceptor()] });
