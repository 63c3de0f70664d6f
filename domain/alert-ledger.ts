// The alert ledger: one long-lived workflow per database that holds the state of every alert rule and of every
// channel, in Temporal, so that an outage of the repository the alerts are about cannot also lose what was sent.
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { AlertNotification, AlertObservation, AlertRule, AlertState, Severity } from './alerts.js';

/** One ledger per database; started by the first alert recorded (update-with-start), never by hand. */
export function alertLedgerWorkflowId(database: string): string {
  return `pgwarden-alerts-${database}`;
}

/** How a channel fared with its last notification of this database: a refusal stays visible until one goes through. */
export interface ChannelHealth {
  channel: string;
  ok: boolean;
  /** When it was last tried. */
  at: string;
  error?: string;
}

export interface AlertLedgerInput {
  database: string;
  /** Carried over by continue-as-new. */
  states?: AlertState[];
  channels?: ChannelHealth[];
}

/** Observations to fold into the states, with the thresholds that judge them (the ledger has no configuration). */
export interface LedgerRecord {
  observations: AlertObservation[];
  severity: Record<AlertRule, Severity>;
  reminderMs: number;
}

export interface LedgerRecorded {
  /** What to send: triggers, reminders (also of job alerts nobody observed since), resolves. */
  notifications: AlertNotification[];
  /** States that changed, for the copy kept in the repositories (status with Temporal down). */
  changed: AlertState[];
  /** Every rule firing after this record, whoever raised it. */
  firing: AlertState[];
}

export interface AlertLedgerView {
  database: string;
  states: AlertState[];
  channels: ChannelHealth[];
}

export const recordAlertsUpdate = defineUpdate<LedgerRecorded, [LedgerRecord]>('recordAlerts');
export const channelReportSignal = defineSignal<[ChannelHealth]>('channelReport');
export const alertLedgerQuery = defineQuery<AlertLedgerView>('alertLedger');
