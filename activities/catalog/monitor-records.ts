// What pgwarden records about a database beside its backups, in `<database>/monitor/` of the database's
// repositories: a copy of each alert rule's state (alerts/<rule>.json; the truth is the alert ledger in Temporal,
// see activities/notify/alert-store.ts), the last drill and verification reports (drill.json, verify.json), the
// newest backup set against the one before it of its kind (comparison.json). The repository is shared by every
// worker and outlives them all, and the CLI reads it with Temporal down.
import { databaseView } from '../../config/load.js';
import type { Config } from '../../config/schema.js';
import type { AlertState } from '../../domain/alerts.js';
import type { BackupComparison } from '../../domain/contents.js';
import type { DrillResult, VerifyResult } from '../../domain/verify.js';
import { openRepository } from '../storage/open.js';
import type { Repository } from '../storage/repository.js';

export function monitorFolder(database: string): string {
  return `${database}/monitor/`;
}

function alertKey(database: string, rule: string): string {
  return `${monitorFolder(database)}alerts/${rule}.json`;
}

export interface AlertStore {
  repository: string;
  read(rule: string): Promise<AlertState | undefined>;
  write(state: AlertState): Promise<void>;
  all(): Promise<AlertState[]>;
}

/** The first of the database's repositories that can be read; undefined if none can. */
export async function openAlertStore(config: Config, database: string): Promise<AlertStore | undefined> {
  for (const name of databaseView(config, database).repositories) {
    const repo = openRepository(config, name);
    try {
      await repo.head(alertKey(database, 'backup-failed'));
      return storeIn(repo, database);
    } catch {
      /* try the next repository */
    }
  }
  return undefined;
}

function storeIn(repo: Repository, database: string): AlertStore {
  const read = async (key: string) => {
    const bytes = await repo.getBytes(key);
    return bytes ? (JSON.parse(bytes.toString('utf8')) as AlertState) : undefined;
  };
  return {
    repository: repo.name,
    read: (rule) => read(alertKey(database, rule)),
    write: async (state) => {
      await repo.putBytes(alertKey(database, state.rule), Buffer.from(`${JSON.stringify(state, null, 2)}\n`));
    },
    all: async () => {
      const states: AlertState[] = [];
      for await (const object of repo.list(`${monitorFolder(database)}alerts/`)) {
        const state = await read(object.key).catch(() => undefined);
        if (state) states.push(state);
      }
      return states;
    },
  };
}

/** Copies alert states into every repository of the database that answers; returns those that took them. */
export async function writeAlertStates(config: Config, database: string, states: AlertState[]): Promise<string[]> {
  const written = await Promise.all(
    databaseView(config, database).repositories.map(async (name) => {
      const repo = openRepository(config, name);
      try {
        for (const state of states) await repo.putBytes(alertKey(database, state.rule), Buffer.from(`${JSON.stringify(state, null, 2)}\n`));
        return name;
      } catch {
        return undefined;
      }
    }),
  );
  return written.filter((name): name is string => name !== undefined);
}

type Report = { drill: DrillResult; verify: VerifyResult; comparison: BackupComparison };

/** Stores the last drill or verification report (the repository keeps the newest; Temporal keeps every run). */
export async function writeReport<K extends keyof Report>(config: Config, database: string, kind: K, report: Report[K]): Promise<string | undefined> {
  for (const name of databaseView(config, database).repositories) {
    try {
      await openRepository(config, name).putBytes(`${monitorFolder(database)}${kind}.json`, Buffer.from(`${JSON.stringify(report, null, 2)}\n`));
      return name;
    } catch {
      /* the next repository */
    }
  }
  return undefined;
}

export async function readReport<K extends keyof Report>(config: Config, database: string, kind: K): Promise<Report[K] | undefined> {
  return (await readReportChecked(config, database, kind)).report;
}

/** The report, or why it could not be read: "never ran" and "cannot tell" are different answers. */
export async function readReportChecked<K extends keyof Report>(config: Config, database: string, kind: K): Promise<{ report?: Report[K]; error?: string }> {
  let error: string | undefined;
  for (const name of databaseView(config, database).repositories) {
    try {
      const bytes = await openRepository(config, name).getBytes(`${monitorFolder(database)}${kind}.json`);
      return bytes ? { report: JSON.parse(bytes.toString('utf8')) as Report[K] } : {};
    } catch (e) {
      error ??= `repository "${name}" unreadable: ${((e as Error).message ?? String(e)).split('\n')[0]}`;
    }
  }
  return error ? { error } : {};
}

/** The firing alerts of a database from the copies in its repositories; throws when none can be read. */
export async function firingAlerts(config: Config, database: string): Promise<AlertState[]> {
  const store = await openAlertStore(config, database);
  if (!store) throw new Error(`no repository of "${database}" can be read`);
  return (await store.all()).filter((s) => s.firing);
}
