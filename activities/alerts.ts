// Activities of alerting: thresholds, the stored state of each rule (dedupe, reminders, resolves), delivery to
// each channel and healthchecks pings. Delivery is retried by Temporal with backoff, in a workflow of its own:
// a channel that is down never fails or delays the job that raised the alert.
import { alertThresholds } from '../config/alerts.js';
import { PgwardenError } from '../domain/errors.js';
import type { Config } from '../config/schema.js';
import { resolveSecret } from '../config/secrets.js';
import { applyObservation, notificationFor } from '../domain/alert-rules.js';
import type { AlertNotification, AlertObservation, AlertThresholds, JobPing } from '../domain/alerts.js';
import { backupFolder, readManifest } from './catalog/manifest.js';
import { pingHealthchecks } from './notify/healthchecks.js';
import { resolveDatabase } from './database-context.js';
import { workflowLink } from './notify/links.js';
import type { ChannelName } from './notify/channel.js';
import { configuredChannels, notifier, reaches } from './notify/notifier.js';
import { openAlertStore } from './catalog/monitor-records.js';
import { activityClient, ledgerView, recordInLedger, reportChannel } from './notify/alert-store.js';
import type { ChannelHealth } from '../domain/alert-ledger.js';

export interface RecordedAlerts {
  notifications: AlertNotification[];
  channels: ChannelName[];
  /** Where the state is kept; undefined when no repository could be read (then firing alerts are sent unconditionally). */
  repository?: string;
  /** Every rule firing after this record, job alerts included (the monitor's healthchecks ping counts them). */
  firing?: number;
}

export function alertActivities(config: Config) {
  return {
    async alertThresholds(input: { database: string }): Promise<AlertThresholds> {
      return alertThresholds(config, input.database);
    },

    /** Folds observations into the stored state; returns what must be sent (new, reminded, resolved). */
    async recordAlerts(input: { database: string; observations: AlertObservation[] }): Promise<RecordedAlerts> {
      const client = activityClient();
      if (!client) return recordAlerts(config, input.database, input.observations, Date.now());
      // In the ledger (Temporal): a repository outage neither loses nor repeats what was sent.
      const recorded = await recordInLedger(client, config, input.database, input.observations);
      return { notifications: recorded.notifications, channels: configuredChannels(config), ...(recorded.mirrored[0] ? { repository: recorded.mirrored[0] } : {}), firing: recorded.firing.length };
    },

    /** Sends one notification on one channel; an outdated one (its alert changed since) is skipped. */
    async deliverAlert(input: { channel: ChannelName; notification: AlertNotification }): Promise<{ sent: boolean; reason?: string }> {
      const n = input.notification;
      const client = activityClient();
      const view = client && !n.stateless ? await ledgerView(client, n.database) : undefined;
      // A channel that refuses (variable unset, 4xx) is not retried: the ledger keeps the refusal for status and metrics.
      const report = async (health: Omit<ChannelHealth, 'channel' | 'at'>) => {
        const previous = view?.channels.find((c) => c.channel === input.channel);
        if (client && (!health.ok || (previous && !previous.ok))) {
          await reportChannel(client, config, n.database, { channel: input.channel, at: new Date().toISOString(), ...health }).catch(() => undefined);
        }
      };
      try {
        const channel = notifier(config, input.channel);
        if (!reaches(n.severity, channel.minSeverity)) return { sent: false, reason: `below ${channel.minSeverity}` };
        if (!n.stateless) {
          const current = view ? view.states.find((s) => s.rule === n.rule) : await (await openAlertStore(config, n.database))?.read(n.rule).catch(() => undefined);
          if (current && current.generation !== n.generation) return { sent: false, reason: `superseded (generation ${current.generation})` };
        }
        const url = n.link ? workflowLink(config, n.link.workflowId, n.link.runId) : undefined;
        await channel.notify({ ...n, ...(url ? { url } : {}) });
      } catch (error) {
        await report({ ok: false, error: `${n.action} ${n.rule}: ${(error as Error).message}` });
        throw error;
      }
      await report({ ok: true });
      return { sent: true };
    },

    /** Sizes of a finished logical backup, from its manifest in the database's first repository. */
    async backupFacts(input: { database: string; backupId: string }): Promise<{ storedBytes: number; dataBytes: number; rows: number }> {
      const db = resolveDatabase(config, input.database);
      const repository = db.view.repositories[0]!;
      const manifest = await readManifest(db.repository(repository), backupFolder(input.database, 'logical', input.backupId));
      if (!manifest) throw new PgwardenError('NotFound', `Backup ${input.backupId} of "${input.database}" has no manifest in repository "${repository}".`);
      return {
        storedBytes: manifest.storedBytes,
        dataBytes: manifest.objects.filter((o) => o.role === 'data').reduce((sum, o) => sum + o.rawBytes, 0),
        rows: Object.values(manifest.tables).reduce((sum, n) => sum + n, 0),
      };
    },

    async pingHealthcheck(input: { database: string; ping: JobPing }): Promise<{ sent: boolean }> {
      const settings = config.alerts.healthchecks;
      if (!settings) return { sent: false };
      await pingHealthchecks(settings.baseUrl, resolveSecret({ env: settings.pingKeyEnv }, 'the healthchecks ping key'), input.database, input.ping);
      return { sent: true };
    },
  };
}

export async function recordAlerts(config: Config, database: string, observations: AlertObservation[], nowMs: number): Promise<RecordedAlerts> {
  const thresholds = alertThresholds(config, database);
  const channels = configuredChannels(config);
  const store = await openAlertStore(config, database);
  const notifications: AlertNotification[] = [];
  if (!store) {
    // Nowhere to remember what was sent: better twice than never for what is firing now.
    for (const o of observations.filter((o) => o.firing)) {
      const applied = applyObservation(undefined, o, thresholds.severity[o.rule], thresholds.reminderMs, nowMs);
      notifications.push({ ...notificationFor(database, applied.state, 'trigger'), stateless: true });
    }
    return { notifications, channels };
  }
  for (const observation of observations) {
    const previous = await store.read(observation.rule);
    const applied = applyObservation(previous, observation, thresholds.severity[observation.rule], thresholds.reminderMs, nowMs);
    if (applied.changed) await store.write(applied.state);
    if (applied.action) notifications.push(notificationFor(database, applied.state, applied.action));
  }
  return { notifications, channels, repository: store.repository };
}
