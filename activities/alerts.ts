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

export interface RecordedAlerts {
  notifications: AlertNotification[];
  channels: ChannelName[];
  /** Where the state is kept; undefined when no repository could be read (then firing alerts are sent unconditionally). */
  repository?: string;
}

export function alertActivities(config: Config) {
  return {
    async alertThresholds(input: { database: string }): Promise<AlertThresholds> {
      return alertThresholds(config, input.database);
    },

    /** Folds observations into the stored state; returns what must be sent (new, reminded, resolved). */
    async recordAlerts(input: { database: string; observations: AlertObservation[] }): Promise<RecordedAlerts> {
      return recordAlerts(config, input.database, input.observations, Date.now());
    },

    /** Sends one notification on one channel; an outdated one (its alert changed since) is skipped. */
    async deliverAlert(input: { channel: ChannelName; notification: AlertNotification }): Promise<{ sent: boolean; reason?: string }> {
      const n = input.notification;
      const channel = notifier(config, input.channel);
      if (!reaches(n.severity, channel.minSeverity)) return { sent: false, reason: `below ${channel.minSeverity}` };
      if (!n.stateless) {
        const store = await openAlertStore(config, n.database);
        const current = await store?.read(n.rule).catch(() => undefined);
        if (current && current.generation !== n.generation) return { sent: false, reason: `superseded (generation ${current.generation})` };
      }
      const url = n.link ? workflowLink(config, n.link.workflowId, n.link.runId) : undefined;
      await channel.notify({ ...n, ...(url ? { url } : {}) });
      return { sent: true };
    },

    /** Sizes of a finished logical backup, from its manifest in the database's first repository. */
    async backupFacts(input: { database: string; backupId: string }): Promise<{ storedBytes: number; dataBytes: number }> {
      const db = resolveDatabase(config, input.database);
      const repository = db.view.repositories[0]!;
      const manifest = await readManifest(db.repository(repository), backupFolder(input.database, 'logical', input.backupId));
      if (!manifest) throw new PgwardenError('NotFound', `Backup ${input.backupId} of "${input.database}" has no manifest in repository "${repository}".`);
      return { storedBytes: manifest.storedBytes, dataBytes: manifest.objects.filter((o) => o.role === 'data').reduce((sum, o) => sum + o.rawBytes, 0) };
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
