// Where alert state lives: the database's alert ledger (a workflow, in Temporal), reached through the activity's
// own client, with a copy of each change in every repository of the database that answers (for `status` with
// Temporal down). Temporal holds the truth because the repository is what an outage takes away; the copies
// hold it because Temporal is what a status check at 3 a.m. may not reach.
import { Context } from '@temporalio/activity';
import { WithStartWorkflowOperation, WorkflowNotFoundError, type Client } from '@temporalio/client';
import { alertThresholds } from '../../config/alerts.js';
import type { Config } from '../../config/schema.js';
import {
  alertLedgerQuery,
  alertLedgerWorkflowId,
  channelReportSignal,
  recordAlertsUpdate,
  type AlertLedgerView,
  type ChannelHealth,
  type LedgerRecorded,
} from '../../domain/alert-ledger.js';
import type { AlertObservation, AlertState } from '../../domain/alerts.js';
import { SEARCH_ATTRIBUTES } from '../../domain/ids.js';
import { openAlertStore, writeAlertStates } from '../catalog/monitor-records.js';

/** The worker's client when running as an activity; undefined elsewhere (tests calling an activity directly). */
export function activityClient(): Client | undefined {
  try {
    return Context.current().client;
  } catch {
    return undefined;
  }
}

function ledgerStart(config: Config, database: string, states: AlertState[]) {
  return new WithStartWorkflowOperation('alertLedgerWorkflow', {
    workflowId: alertLedgerWorkflowId(database),
    taskQueue: config.temporal.taskQueue,
    args: [{ database, ...(states.length ? { states } : {}) }],
    workflowIdConflictPolicy: 'USE_EXISTING',
    typedSearchAttributes: [
      { key: SEARCH_ATTRIBUTES.database, value: database },
      { key: SEARCH_ATTRIBUTES.operation, value: 'alerts' },
    ],
  });
}

/** Folds observations into the ledger (starting it if need be); the changes are copied to the repositories. */
export async function recordInLedger(client: Client, config: Config, database: string, observations: AlertObservation[]): Promise<LedgerRecorded & { mirrored: string[] }> {
  const thresholds = alertThresholds(config, database);
  const record = { observations, severity: thresholds.severity, reminderMs: thresholds.reminderMs };
  let recorded: LedgerRecorded;
  try {
    recorded = await whileRunning(client, () => client.workflow.getHandle(alertLedgerWorkflowId(database)).executeUpdate(recordAlertsUpdate, { args: [record] }));
  } catch (error) {
    if (!(error instanceof WorkflowNotFoundError)) throw error;
    // The first ledger of the database starts from the states a release before it kept in the repository: an
    // incident opened then is still resolved when its condition clears.
    const seed = await openAlertStore(config, database)
      .then((store) => store?.all() ?? [])
      .catch(() => []);
    recorded = await whileRunning(client, () => client.workflow.executeUpdateWithStart(recordAlertsUpdate, { args: [record], startWorkflowOperation: ledgerStart(config, database, seed) }));
  }
  // A copy only: a repository that does not answer misses this change and gets the next one.
  const mirrored = recorded.changed.length ? await writeAlertStates(config, database, recorded.changed) : [];
  return { ...recorded, mirrored };
}

/** A query needs a worker to answer it: with every worker down, the caller falls back to the repositories' copy. */
const QUERY_DEADLINE_MS = 10_000;

/** The ledger's view; undefined when no alert was ever recorded for the database. Throws when Temporal (or every worker) does not answer. */
export async function ledgerView(client: Client, database: string): Promise<AlertLedgerView | undefined> {
  try {
    return await client.withDeadline(Date.now() + QUERY_DEADLINE_MS, () => client.workflow.getHandle(alertLedgerWorkflowId(database)).query(alertLedgerQuery));
  } catch (error) {
    if (error instanceof WorkflowNotFoundError) return undefined;
    throw error;
  }
}

/** Tells the ledger how a channel fared (a refusal shows in status and metrics until a delivery goes through). */
export async function reportChannel(client: Client, config: Config, database: string, report: ChannelHealth): Promise<void> {
  await client.workflow.signalWithStart('alertLedgerWorkflow', {
    workflowId: alertLedgerWorkflowId(database),
    taskQueue: config.temporal.taskQueue,
    args: [{ database }],
    signal: channelReportSignal,
    signalArgs: [report],
    typedSearchAttributes: [
      { key: SEARCH_ATTRIBUTES.database, value: database },
      { key: SEARCH_ATTRIBUTES.operation, value: 'alerts' },
    ],
  });
}

/**
 * A call to Temporal that ends with the activity making it. The update waits for the ledger workflow, which only a
 * polling worker moves on: when the worker shutting down is the only one, it never answers. The worker's connection
 * (a NativeConnection) does not honour abort signals (SDK 1.x), so the activity stops waiting itself when it is
 * cancelled (at the end of the shutdown grace time, or by Temporal); the call left behind ends with the connection.
 */
function whileRunning<T>(client: Client, call: () => Promise<T>): Promise<T> {
  let context: Context;
  try {
    context = Context.current();
  } catch {
    return call(); // not in an activity (a command of the CLI): nothing to end with
  }
  const pending = client.withAbortSignal(context.cancellationSignal, call);
  pending.catch(() => undefined); // once the activity has stopped waiting, nobody reads how the call ended
  return Promise.race([pending, context.cancelled]);
}
