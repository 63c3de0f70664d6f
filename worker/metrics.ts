// Prometheus metrics (`pgwarden worker --metrics ADDR`). With several workers each one sees only its own
// activities, so the numbers come from where the truth is: the repositories (newest backups, the last drill and
// verification, the WAL archive) and Temporal (alert state, in each database's alert ledger). Every worker serves
// the same values; scrape any or all of them.
import { createServer, type Server } from 'node:http';
import type { Client } from '@temporalio/client';
import { collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import { databaseHealth } from '../activities/catalog/health.js';
import { PgwardenError } from '../domain/errors.js';
import type { Config } from '../config/schema.js';
import type { DatabaseHealth } from '../domain/health.js';
import { connectClient } from './temporal.js';

/** Repositories are read at most this often, however often Prometheus scrapes. */
const REFRESH_MS = 30_000;

export interface MetricsServer {
  /** http://host:port/metrics */
  url: string;
  registry: Registry;
  close(): Promise<void>;
}

/** "0.0.0.0:9464", ":9464", "9464", "[::1]:9464" -> host and port. */
export function parseListenAddress(address: string): { host: string; port: number } {
  const text = address.trim();
  const match = /^(\d+)$/.exec(text) ?? /^\[([^\]]+)\]:(\d+)$/.exec(text) ?? /^([^:[\]]*):(\d+)$/.exec(text);
  const port = Number(match?.at(-1));
  if (!match || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new PgwardenError('Usage', `--metrics ${address}: write it as HOST:PORT (0.0.0.0:9464) or :PORT.`);
  }
  return { host: match.length === 3 && match[1] ? match[1] : '0.0.0.0', port };
}

/**
 * prom-client's defaults, without the gauges it names `*_total` (nodejs_active_{handles,requests,resources}_total):
 * that suffix is for counters, and `promtool check metrics` rejects them. The unsuffixed gauges carry the same counts.
 */
function processMetrics(registry: Registry): void {
  collectDefaultMetrics({ register: registry });
  for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) registry.removeSingleMetric(name);
}

export interface MetricsOptions {
  /** Temporal, for the alert ledgers; undefined when it does not answer (alerts then come from the repositories). */
  temporal?: () => Promise<Client | undefined>;
  /** How often the repositories are read at most (REFRESH_MS unless given; the tests shorten it to see a refresh). */
  refreshMs?: number;
}

// One declaration per metric, in the order the metrics page lists them (about 100 lines, read top to bottom).
export function createMetrics(config: Config, options: MetricsOptions = {}): Registry {
  const registry = new Registry();
  processMetrics(registry);
  const db = ['database'] as const;
  // Every pgwarden gauge fills itself from the same snapshot of the repositories (read once per refresh).
  const gauge = (name: string, help: string, labelNames: readonly string[]) =>
    new Gauge({ name, help, labelNames, registers: [registry], collect: () => fill() });

  const lastSuccess = gauge('pgwarden_backup_last_success_timestamp_seconds', 'When the newest complete backup of each kind finished (Unix time).', ['database', 'kind']);
  const lastSize = gauge('pgwarden_backup_last_size_bytes', 'Stored size (compressed, encrypted) of the newest backup of each kind.', ['database', 'kind']);
  const lastDuration = gauge('pgwarden_backup_last_duration_seconds', 'How long the newest backup of each kind took to dump and upload.', ['database', 'kind']);
  const drillSuccess = gauge('pgwarden_drill_last_success', '1 if the last restore drill passed, 0 if it failed.', db);
  const drillTime = gauge('pgwarden_drill_last_timestamp_seconds', 'When the last restore drill started (Unix time).', db);
  const drillRestore = gauge('pgwarden_drill_last_restore_duration_seconds', 'Restore time measured by the last drill, per type (logical, pitr).', ['database', 'type']);
  const drillRto = gauge('pgwarden_drill_rto_seconds', 'The RTO the drill measured against.', db);
  const verifySuccess = gauge('pgwarden_verify_last_success', '1 if the last integrity verification found nothing, 0 if it found damage.', db);
  const verifyTime = gauge('pgwarden_verify_last_timestamp_seconds', 'When the last integrity verification ran (Unix time).', db);
  const walLag = gauge('pgwarden_wal_archive_lag_seconds', 'How far WAL archiving is behind the server (0 when every completed segment is archived).', db);
  const windowStart = gauge('pgwarden_restore_window_start_timestamp_seconds', 'The earliest moment a point-in-time restore can reach (Unix time).', db);
  const windowEnd = gauge('pgwarden_restore_window_end_timestamp_seconds', 'The latest moment a point-in-time restore can reach (Unix time).', db);
  const alertFiring = gauge('pgwarden_alert_firing', '1 for each alert rule that is firing.', ['database', 'rule', 'severity']);
  const readable = gauge('pgwarden_repository_readable', '1 if the repository answered the last refresh, 0 if it did not (the backup metrics then keep their last known values).', ['database', 'repository']);
  const channelOk = gauge('pgwarden_alert_channel_ok', '1 if the channel took its last alert of the database, 0 if it refused it (variable unset, URL or key refused).', ['database', 'channel']);
  const alertsKnown = gauge('pgwarden_alerts_known', '1 if the alert state could be read (Temporal, else the repositories), 0 if not: pgwarden_alert_firing is then missing, not zero.', db);
  const droppedTables = gauge('pgwarden_backup_tables_dropped', 'Tables that lost more than the allowed share of their rows, or vanished, in the newest backup compared with the previous one of its kind.', ['database', 'kind']);
  const maxRowLoss = gauge('pgwarden_backup_max_row_loss_ratio', 'The largest share of its rows (0 to 1) any table lost in the newest backup compared with the previous one of its kind.', ['database', 'kind']);
  const comparedAt = gauge('pgwarden_backup_comparison_timestamp_seconds', 'When the newest backup was compared with the previous one of its kind (Unix time).', ['database', 'kind']);
  const rpo = gauge('pgwarden_rpo_seconds', "The database's RPO target.", db);

  const refreshMs = options.refreshMs ?? REFRESH_MS;
  let cached: { at: number; health: Promise<DatabaseHealth[]> } | undefined;
  const refresh = () => {
    if (!cached || Date.now() - cached.at > refreshMs) {
      const health = (options.temporal?.() ?? Promise.resolve(undefined))
        .catch(() => undefined)
        .then((temporal) => Promise.all(Object.keys(config.databases).map((name) => databaseHealth(config, name, temporal ? { temporal } : {}))));
      cached = { at: Date.now(), health };
    }
    return cached.health;
  };
  const seconds = (iso: string) => Date.parse(iso) / 1_000;

  const refreshed = gauge('pgwarden_metrics_refresh_timestamp_seconds', 'When the repositories were last read for these metrics (Unix time).', []);
  // prom-client collects the gauges concurrently: they all wait for the one fill of the current snapshot.
  let filling: { snapshot: Promise<DatabaseHealth[]>; done: Promise<void> } | undefined;
  const fill = () => {
    const snapshot = refresh();
    if (filling?.snapshot !== snapshot) filling = { snapshot, done: snapshot.then(apply) };
    return filling.done;
  };
  // The last backups each database's repositories showed: an outage must not make its series vanish (a Prometheus
  // rule on their age would stop checking exactly then); pgwarden_repository_readable says they are not fresh.
  const lastKnown = new Map<string, Pick<DatabaseHealth, 'logical' | 'base'>>();
  const apply = (all: DatabaseHealth[]) => {
    for (const g of [lastSuccess, lastSize, lastDuration, drillSuccess, drillTime, drillRestore, drillRto, verifySuccess, verifyTime, walLag, windowStart, windowEnd, alertFiring, readable, rpo, channelOk, alertsKnown, droppedTables, maxRowLoss, comparedAt]) g.reset();
    refreshed.set(cached!.at / 1_000);
    for (const fresh of all) {
      const database = fresh.database;
      for (const r of fresh.repositories ?? [{ name: fresh.logical.repository, readable: !fresh.logical.error }]) readable.set({ database, repository: r.name }, r.readable ? 1 : 0);
      if (fresh.base) readable.set({ database, repository: fresh.base.repository }, fresh.base.error ? 0 : 1);
      if (fresh.wal?.error) readable.set({ database, repository: fresh.wal.repository }, 0);
      const known = lastKnown.get(database);
      const h: DatabaseHealth = {
        ...fresh,
        ...(fresh.logical.error && known ? { logical: known.logical } : {}),
        ...(fresh.base?.error && known?.base ? { base: known.base } : {}),
      };
      lastKnown.set(database, { logical: h.logical, ...(h.base ? { base: h.base } : {}) });
      if (h.rpoMs !== undefined) rpo.set({ database }, h.rpoMs / 1_000);
      for (const c of h.channels ?? []) channelOk.set({ database, channel: c.channel }, c.ok ? 1 : 0);
      alertsKnown.set({ database }, h.alertsFrom === 'unknown' ? 0 : 1);
      const kinds = { ...h.logical.byKind, ...(h.base?.newest ? { base: h.base.newest } : {}) };
      for (const [kind, b] of Object.entries(kinds)) {
        lastSuccess.set({ database, kind }, seconds(b.finishedAt));
        lastSize.set({ database, kind }, b.storedBytes);
        lastDuration.set({ database, kind }, b.durationMs / 1_000);
      }
      if (h.drill) {
        drillSuccess.set({ database }, h.drill.passed ? 1 : 0);
        drillTime.set({ database }, seconds(h.drill.startedAt));
        for (const part of h.drill.parts) if (part.restoreMs !== undefined) drillRestore.set({ database, type: part.type }, part.restoreMs / 1_000);
        const rto = h.drill.parts.find((p) => p.rtoMs !== undefined)?.rtoMs;
        if (rto !== undefined) drillRto.set({ database }, rto / 1_000);
      }
      if (h.verify) {
        verifySuccess.set({ database }, h.verify.ok ? 1 : 0);
        verifyTime.set({ database }, seconds(h.verify.checkedAt));
      }
      if (h.wal?.lagMs !== undefined) walLag.set({ database }, h.wal.lagMs / 1_000);
      if (h.wal?.window) {
        windowStart.set({ database }, seconds(h.wal.window.from));
        windowEnd.set({ database }, seconds(h.wal.window.to));
      }
      // Only a comparison with an earlier backup says anything (the first backup of a kind has none).
      if (h.comparison?.previousId !== undefined) {
        const labels = { database, kind: h.comparison.kind };
        droppedTables.set(labels, h.comparison.dropped.length);
        maxRowLoss.set(labels, h.comparison.maxLost);
        comparedAt.set(labels, seconds(h.comparison.comparedAt));
      }
      for (const a of h.alerts) alertFiring.set({ database, rule: a.rule, severity: a.severity }, a.firing ? 1 : 0);
    }
  };
  return registry;
}

/** Serves GET /metrics on `address` until closed. */
export async function serveMetrics(config: Config, address: string, options: Pick<MetricsOptions, 'refreshMs'> = {}): Promise<MetricsServer> {
  const { host, port } = parseListenAddress(address);
  // Connected on first use and again after a failure: the metrics never wait for Temporal to start.
  let temporal: Promise<Client | undefined> | undefined;
  const connect = () => {
    temporal ??= connectClient(config).catch(() => {
      temporal = undefined;
      return undefined;
    });
    return temporal;
  };
  const registry = createMetrics(config, { ...options, temporal: connect });
  const server: Server = createServer((request, response) => {
    if (request.method !== 'GET' || !request.url?.startsWith('/metrics')) {
      response.writeHead(request.url === '/' ? 200 : 404, { 'content-type': 'text/plain' }).end('pgwarden: metrics are at /metrics\n');
      return;
    }
    registry.metrics().then(
      (text) => response.writeHead(200, { 'content-type': registry.contentType }).end(text),
      (error: Error) => response.writeHead(500, { 'content-type': 'text/plain' }).end(`collecting metrics failed: ${error.message}\n`),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) =>
      reject(new PgwardenError(error.code === 'EADDRINUSE' ? 'Refused' : 'Usage', `Cannot serve metrics on ${address}: ${error.message}. Choose another --metrics address.`)),
    );
    server.listen(port, host, resolve);
  });
  const bound = server.address();
  const actualPort = typeof bound === 'object' && bound ? bound.port : port;
  const shown = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${shown}:${actualPort}/metrics`,
    registry,
    close: async () => {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await (await temporal)?.connection.close().catch(() => undefined);
    },
  };
}
