// What pgwarden records about a database beside its backups, in `<database>/monitor/` of the database's first
// repository that answers: the state of each alert rule (alerts/<rule>.json), the last drill and verification
// reports (drill.json, verify.json). The repository is shared by every worker and outlives them all, and the CLI
// reads it with Temporal down. Each alert rule has one writer at a time: a job's rules are written by that job's
// runs (which hold the database's lock), the monitor's rules by monitor runs (one at a time).
import { databaseView } from '../../config/load.js';
import type { Config } from '../../config/schema.js';
import type { AlertState } from '../../domain/alerts.js';
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

/** The firing alerts of a database, from its repositories (what `status` shows with Temporal down). */
type Report = { drill: DrillResult; verify: VerifyResult };

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
  for (const name of databaseView(config, database).repositories) {
    try {
      const bytes = await openRepository(config, name).getBytes(`${monitorFolder(database)}${kind}.json`);
      if (bytes) return JSON.parse(bytes.toString('utf8')) as Report[K];
      return undefined;
    } catch {
      /* the next repository */
    }
  }
  return undefined;
}

export async function firingAlerts(config: Config, database: string): Promise<AlertState[]> {
  const store = await openAlertStore(config, database);
  return store ? (await store.all()).filter((s) => s.firing) : [];
}
