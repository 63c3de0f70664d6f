// What Temporal Schedules start. Schedules give each run an id of their own; this workflow runs the real one
// as a child under the database's lock id (pgwarden-backup-<db>, …), so a scheduled backup never overlaps a
// manual one: it waits its turn instead.
import { ApplicationFailure } from '@temporalio/workflow';
import { BACKUP_KINDS } from '../domain/kinds.js';
import { backupWorkflowId, baseBackupWorkflowId, drillWorkflowId, expireWorkflowId, monitorWorkflowId, verifyWorkflowId } from '../domain/ids.js';
import type { ScheduledInput } from '../domain/schedules.js';
import { checkInput } from './input.js';
import { childWhenFree, SCHEDULED_WAIT_FOR_TURN_MS } from './lock-turn.js';
import { tagRun } from './tags.js';

export async function scheduledWorkflow(raw: ScheduledInput): Promise<unknown> {
  const input = checkInput<ScheduledInput>(
    'scheduledWorkflow',
    raw,
    { database: { type: 'string', required: true }, operation: { type: 'string', required: true, oneOf: ['backup', 'basebackup', 'expire', 'drill', 'verify', 'monitor'] }, kind: { type: 'string', oneOf: BACKUP_KINDS } },
    '{"database": "cartly", "operation": "backup", "kind": "daily"}',
  );
  tagRun(input.database, `scheduled-${input.operation}`, input.kind);
  const [type, workflowId, args] =
    input.operation === 'backup'
      ? (['backupWorkflow', backupWorkflowId(input.database), [{ database: input.database, kind: input.kind ?? 'daily' }]] as const)
      : input.operation === 'basebackup'
        ? (['baseBackupWorkflow', baseBackupWorkflowId(input.database), [{ database: input.database }]] as const)
        : input.operation === 'drill'
          ? (['drillWorkflow', drillWorkflowId(input.database), [{ database: input.database }]] as const)
          : input.operation === 'verify'
            ? (['verifyWorkflow', verifyWorkflowId(input.database), [{ database: input.database, backup: 'all' }]] as const)
            : input.operation === 'monitor'
              ? (['monitorWorkflow', monitorWorkflowId(input.database), [{ database: input.database }]] as const)
              : (['expireWorkflow', expireWorkflowId(input.database), [{ database: input.database }]] as const);
  return childWhenFree(type, workflowId, [...args], SCHEDULED_WAIT_FOR_TURN_MS, () =>
    ApplicationFailure.nonRetryable(`${workflowId} was still running after ${SCHEDULED_WAIT_FOR_TURN_MS / 3_600_000} h: this scheduled ${input.operation} was skipped.`, 'Refused'),
  );
}
