// The backup a migration waits on: one per database and migration id. It reuses this migration's earlier backup,
// or takes one under the database's backup lock (after whatever backup is running, never beside it), reads every
// copy back to verify it, hands it to the callers (an update), and records the migration's start and end.
import {
  allHandlersFinished,
  ApplicationFailure,
  condition,
  isCancellation,
  ParentClosePolicy,
  patched,
  proxyActivities,
  setHandler,
  sleep,
  startChild,
  workflowInfo,
} from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import type { Activities } from '../activities/index.js';
import { innermostPgwardenFailure } from '../domain/failures.js';
import { backupWorkflow } from './backup.js';
import { backupWorkflowId, SEARCH_ATTRIBUTES } from '../domain/ids.js';
import { migrationFinishedSignal, migrationStartedSignal, MIGRATION_ID, MIGRATION_ID_HINT, preMigrationBackupUpdate, preMigrationStatusQuery, type MigrationRecord, type PreMigrationBackup, type PreMigrationInput, type PreMigrationResult, type PreMigrationStatus } from '../domain/premigration.js';
import { checkInput } from './input.js';
import { HEAVY_WORK_ON_JOB_QUEUES, jobOptions, LONG, QUICK } from './policies.js';
import { PREMIGRATION_WAIT_FOR_TURN_MS } from './lock-turn.js';
import { tagRun } from './tags.js';

const quick = proxyActivities<Activities>(QUICK);
const long = proxyActivities<Activities>(LONG);

/** When the lock's holder ended between the failed start and the question who holds it: try again this soon. */
const JUST_ENDED_TRY_AGAIN = '1 second';
/** A caller that took the backup to run a migration reports its start within this, its end within RUN_WINDOW_MS. */
const START_WINDOW_MS = 15 * 60_000;
const RUN_WINDOW_MS = 24 * 3_600_000;

type Backup = Omit<PreMigrationBackup, 'attempt'>;

const EXAMPLE = '{"database": "cartly", "migrationId": "20261125143000_orders_index"}';

// The workflow's handlers (status, backup request, migration reports) and its one path are read together here:
// which handler may change what, and when, is the part that must stay obvious (about 80 lines).
export async function preMigrationWorkflow(raw: PreMigrationInput): Promise<PreMigrationResult> {
  const input = checkInput<PreMigrationInput>(
    'preMigrationWorkflow',
    raw,
    { database: { type: 'string', required: true }, migrationId: { type: 'string', required: true }, fresh: { type: 'boolean' }, runsMigration: { type: 'boolean' } },
    EXAMPLE,
  );
  if (!MIGRATION_ID.test(input.migrationId)) {
    throw ApplicationFailure.nonRetryable(`preMigrationWorkflow input field "migrationId" must be ${MIGRATION_ID_HINT}. Expected JSON like ${EXAMPLE}`, 'Usage');
  }
  tagRun(input.database, 'premigration', 'pre-migration');
  const status: PreMigrationStatus = { phase: 'starting', migrations: [] };
  let backup: Backup | undefined;
  let failure: ApplicationFailure | undefined;

  // Started from the UI by someone who then migrates by hand: attempt 1 waits for their migrationStarted and
  // migrationFinished signals, as a CLI request's would. (Only runs given this field take the branch: older runs
  // never had it, so they replay as before.)
  if (input.runsMigration) status.migrations.push({ attempt: 1, outcome: 'pending', requestedAt: new Date().toISOString() });
  setHandler(preMigrationStatusQuery, () => status);
  setHandler(
    preMigrationBackupUpdate,
    async (request = {}) => {
      let attempt: number | undefined;
      if (request.runsMigration) {
        attempt = status.migrations.length + 1;
        status.migrations.push({ attempt, outcome: 'pending', requestedAt: new Date().toISOString() });
      }
      await condition(() => backup !== undefined || failure !== undefined);
      if (!backup) throw failure!;
      return { ...backup, ...(attempt !== undefined ? { attempt } : {}) };
    },
    {
      validator: (request = {}) => {
        if (typeof request !== 'object' || request === null) throw new Error('The request must be an object: {"runsMigration": true} or {}.');
      },
    },
  );
  setHandler(migrationStartedSignal, (started) => {
    Object.assign(record(status.migrations, started.attempt), { outcome: 'running', command: started.command, host: started.host, startedAt: started.startedAt });
  });
  setHandler(migrationFinishedSignal, (finished) => {
    Object.assign(record(status.migrations, finished.attempt), {
      outcome: finished.exitCode === 0 ? 'succeeded' : 'failed',
      exitCode: finished.exitCode,
      durationMs: finished.durationMs,
      ...(finished.signal !== undefined ? { signal: finished.signal } : {}),
      ...(finished.error !== undefined ? { error: finished.error } : {}),
    });
  });

  try {
    backup = await backUp(input, status);
  } catch (error) {
    if (isCancellation(error)) throw error; // cancelled from the UI: the backup workflow cleaned up after itself
    failure = asFailure(error, input);
    status.phase = `failed: ${failure.message}`;
    await condition(allHandlersFinished);
    throw failure;
  }
  status.backup = backup;
  // The person who started it can begin only now: their 15 minutes to report the start count from here.
  const byHand = input.runsMigration ? status.migrations.find((m) => m.attempt === 1 && m.outcome === 'pending') : undefined;
  if (byHand) byHand.requestedAt = new Date().toISOString();

  // The callers that run a migration report it here: the history links the backup to what followed it.
  for (;;) {
    const open = status.migrations.find((m) => m.outcome === 'pending' || m.outcome === 'running');
    if (!open) break;
    status.phase = open.outcome === 'pending' ? `backed up; waiting for migration attempt ${open.attempt} to start` : `backed up; migration attempt ${open.attempt} is running`;
    const before = open.outcome;
    const since = Date.parse(open.outcome === 'pending' ? open.requestedAt : open.startedAt!);
    const left = since + (open.outcome === 'pending' ? START_WINDOW_MS : RUN_WINDOW_MS) - Date.now();
    if (left <= 0 || !(await condition(() => open.outcome !== before, left))) {
      open.outcome = before === 'pending' ? 'never started' : 'unknown';
    }
  }
  await condition(allHandlersFinished);
  status.phase = 'done';
  return { ...backup, migrations: status.migrations };
}

/**
 * This migration's earlier backup if there is one (completed and verified everywhere), else a new one. Kept whole
 * (about 80 lines): its commands' order is what recorded histories replay, and it reads best as that one sequence.
 */
async function backUp(input: PreMigrationInput, status: PreMigrationStatus): Promise<Backup> {
  const info = workflowInfo();
  const requestedAt = Date.now();
  const common = { database: input.database, migrationId: input.migrationId, workflowId: info.workflowId, runId: info.runId };

  if (!input.fresh) {
    status.phase = 'looking for an earlier backup of this migration';
    const earlier = await quick.findPreMigrationBackup({ database: input.database, migrationId: input.migrationId });
    if (earlier) {
      for (const to of earlier.missing) {
        status.phase = `copying earlier backup ${earlier.backupId} to ${to}`;
        await copies().replicateBackup({ database: input.database, backupId: earlier.backupId, from: earlier.holding[0]!, to });
      }
      const repositories = [...earlier.holding, ...earlier.missing];
      try {
        await verify(input.database, earlier.backupId, repositories, status);
      } catch (error) {
        const cause = innermost(error);
        throw ApplicationFailure.create({
          type: cause.type,
          nonRetryable: true,
          message: `the backup taken earlier for this migration (${earlier.backupId}) does not verify: ${cause.message} If the migration has not run yet, take a new one with --new.`,
        });
      }
      const { backupId, storedBytes, tables, rows, startedAt, finishedAt } = earlier;
      return { ...common, backupId, repositories, reused: true, storedBytes, tables, rows, backupStartedAt: startedAt, finishedAt, durationMs: Date.now() - requestedAt, waitedMs: 0 };
    }
  }

  // The database's backup lock is the backup workflow's id: a running backup is waited for, then ours starts.
  let waitedMs = 0;
  for (;;) {
    let child;
    try {
      child = await startChild(backupWorkflow, {
        workflowId: backupWorkflowId(input.database),
        args: [{ database: input.database, kind: 'pre-migration', migrationId: input.migrationId }],
        taskQueue: info.taskQueue,
        parentClosePolicy: ParentClosePolicy.REQUEST_CANCEL, // a cancelled request cleans up its half backup
        typedSearchAttributes: [
          { key: SEARCH_ATTRIBUTES.database, value: input.database },
          { key: SEARCH_ATTRIBUTES.kind, value: 'pre-migration' },
          { key: SEARCH_ATTRIBUTES.operation, value: 'backup' },
        ],
      });
    } catch (error) {
      if (!(error instanceof WorkflowExecutionAlreadyStartedError)) throw error;
      const holder = await quick.describeBackupLock({ database: input.database });
      if (!holder) {
        await sleep(JUST_ENDED_TRY_AGAIN); // it has just ended: try again
        continue;
      }
      status.phase = `waiting for ${holder.what} to finish; the pre-migration backup starts right after it`;
      const waited = await long.waitForLockHolder({ holder, deadlineMs: requestedAt + PREMIGRATION_WAIT_FOR_TURN_MS });
      waitedMs += waited.waitedMs;
      if (!waited.ended) {
        throw ApplicationFailure.nonRetryable(
          `Other backups of "${input.database}" kept it busy for ${PREMIGRATION_WAIT_FOR_TURN_MS / 3_600_000} h (last: ${holder.what}): no pre-migration backup was taken.`,
          'Refused',
        );
      }
      continue;
    }
    status.phase = 'backing up';
    status.backupWorkflow = { workflowId: child.workflowId, runId: child.firstExecutionRunId };
    const result = await child.result();
    await verify(input.database, result.backupId, result.repositories, status);
    return {
      ...common,
      backupId: result.backupId,
      repositories: result.repositories,
      reused: false,
      storedBytes: result.storedBytes,
      tables: result.tables,
      rows: result.rows,
      backupStartedAt: result.startedAt,
      finishedAt: result.finishedAt,
      durationMs: Date.now() - requestedAt,
      waitedMs,
    };
  }
}

/** Reads every copy back: the backup counts only once each repository of the kind verifiably holds it. */
async function verify(database: string, backupId: string, repositories: string[], status: PreMigrationStatus): Promise<void> {
  status.phase = `verifying ${backupId} in ${repositories.join(' + ')}`;
  await Promise.all(repositories.map((repository) => copies().verifyBackupCopy({ database, backupId, repository })));
}

/** Copies and their read-backs move a backup's bytes: they take backup slots of the worker, like the dump. */
function copies() {
  return proxyActivities<Activities>(jobOptions(workflowInfo().taskQueue, 'backups', patched(HEAVY_WORK_ON_JOB_QUEUES)));
}

/** The attempt's record; one the workflow did not hand out (a report after a restart of the caller) is added. */
function record(migrations: MigrationRecord[], attempt: number): MigrationRecord {
  let found = migrations.find((m) => m.attempt === attempt);
  if (!found) {
    found = { attempt, outcome: 'pending', requestedAt: new Date().toISOString() };
    migrations.push(found);
  }
  return found;
}

/** The innermost pgwarden failure: its kind picks the exit code, its message says what happened. */
function innermost(error: unknown): { type: string; message: string } {
  const best = innermostPgwardenFailure(error);
  return { type: best?.type ?? 'Failed', message: best?.message ?? (error as Error).message };
}

/** The failure callers see, worded for the person whose migration waits. */
function asFailure(error: unknown, input: PreMigrationInput): ApplicationFailure {
  const cause = innermost(error);
  return ApplicationFailure.create({
    message: `No pre-migration backup of "${input.database}" for migration ${input.migrationId}: ${cause.message}`,
    type: cause.type,
    nonRetryable: true,
  });
}
