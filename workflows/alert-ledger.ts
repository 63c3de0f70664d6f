// The alert ledger of one database: holds every rule's state (what fired when, what was sent) and every channel's
// health in Temporal, where an outage of the database's repository cannot reach it. Records arrive as updates
// (update-with-start: the first one starts it), are folded by the pure rules, and answer what to send; status and
// metrics query it. It never ends: continue-as-new keeps its history short.
import { allHandlersFinished, condition, continueAsNew, setHandler, workflowInfo } from '@temporalio/workflow';
import { alertLedgerQuery, channelReportSignal, recordAlertsUpdate, type AlertLedgerInput, type ChannelHealth } from '../domain/alert-ledger.js';
import { foldRecord } from '../domain/alert-rules.js';
import type { AlertState } from '../domain/alerts.js';
import { checkInput } from './input.js';
import { tagRun } from './tags.js';

/** Records per run before continue-as-new (one per monitor run and job: a few days' worth). */
const RECORDS_PER_RUN = 500;

export async function alertLedgerWorkflow(raw: AlertLedgerInput): Promise<never> {
  const input = checkInput<AlertLedgerInput>('alertLedgerWorkflow', raw, { database: { type: 'string', required: true } }, '{"database": "cartly"}', ['states', 'channels']);
  tagRun(input.database, 'alerts');
  const states = new Map<string, AlertState>((input.states ?? []).map((s) => [s.rule, s]));
  const channels = new Map<string, ChannelHealth>((input.channels ?? []).map((c) => [c.channel, c]));
  let records = 0;

  setHandler(recordAlertsUpdate, (record) => {
    records += 1;
    return foldRecord(states, input.database, record, Date.now());
  });
  setHandler(channelReportSignal, (report) => {
    const previous = channels.get(report.channel);
    // Deliveries finish out of order: an older report never overwrites a newer one.
    if (!previous || Date.parse(report.at) >= Date.parse(previous.at)) channels.set(report.channel, report);
  });
  setHandler(alertLedgerQuery, () => ({ database: input.database, states: [...states.values()], channels: [...channels.values()] }));

  await condition(() => records >= RECORDS_PER_RUN || workflowInfo().continueAsNewSuggested);
  await condition(allHandlersFinished);
  return continueAsNew<typeof alertLedgerWorkflow>({ database: input.database, states: [...states.values()], channels: [...channels.values()] });
}
