// What two backups hold, from their manifests and their schema objects, without restoring anything: each
// backup against the previous one of its kind (the rows-dropped rule and its metric), and `backups diff`.
import { alertThresholds } from '../../config/alerts.js';
import { databaseView } from '../../config/load.js';
import type { Config } from '../../config/schema.js';
import { compareTables, diffDefinitions, judgeComparison, type BackupComparison, type BackupDiff, type BackupDiffInput, type BackupTables, type TableDefinition } from '../../domain/contents.js';
import { PgwardenError } from '../../domain/errors.js';
import type { BackupKind } from '../../domain/kinds.js';
import { objectSecretOf } from '../keys/backup-keys.js';
import { unsealInto } from '../pipeline/seal.js';
import { pgTool } from '../postgres/binaries.js';
import { openRepository } from '../storage/open.js';
import { completeBackups } from './health.js';
import { scanBackupsEverywhere } from './locate.js';
import { backupFolder, readManifest, type BackupManifest } from './manifest.js';
import { writeReport } from './monitor-records.js';

const tablesOf = (m: BackupManifest): BackupTables => ({ id: m.id, kind: m.kind, finishedAt: m.finishedAt, tables: m.tables, ...(m.tableBytes ? { tableBytes: m.tableBytes } : {}) });

/**
 * A finished backup against the newest earlier complete backup of the same database and kind in the kind's first
 * repository; the comparison is stored beside the alert states (the metric reads it). Undefined when the rule is off.
 */
export async function compareWithPrevious(config: Config, database: string, backupId: string, kind: BackupKind): Promise<BackupComparison | undefined> {
  const settings = alertThresholds(config, database).rowsDropped;
  if (!settings) return undefined;
  const repository = databaseView(config, database).repositoriesFor(kind)[0]!;
  const repo = openRepository(config, repository);
  const current = await readManifest(repo, backupFolder(database, 'logical', backupId));
  if (!current) throw new PgwardenError('NotFound', `Backup ${backupId} of "${database}" has no manifest in repository "${repository}": it was removed or never finished.`);
  const earlier = (await completeBackups(repo, database, 'logical')).filter(
    (m) => m.kind === current.kind && m.id !== current.id && (m.finishedAt < current.finishedAt || (m.finishedAt === current.finishedAt && m.id < current.id)),
  );
  const previous = earlier.at(-1);
  const comparison = judgeComparison(database, previous ? tablesOf(previous) : undefined, tablesOf(current), settings, new Date().toISOString());
  // The same key every time: a retry writes the same comparison again.
  await writeReport(config, database, 'comparison', comparison);
  return comparison;
}

/** "latest", "previous" (the one before the newest) or an id, among every repository of the database. */
async function resolvePair(config: Config, input: BackupDiffInput): Promise<{ from: { manifest: BackupManifest; repository: string }; to: { manifest: BackupManifest; repository: string } }> {
  const { backups } = await scanBackupsEverywhere(config, input.database);
  const pick = (name: string) => {
    const index = name === 'latest' ? backups.length - 1 : name === 'previous' ? backups.length - 2 : backups.findIndex((b) => b.manifest.id === name);
    const found = backups[index];
    if (!found) {
      const recent = backups.slice(-5).map((b) => b.manifest.id);
      throw new PgwardenError(
        'NotFound',
        `Backup "${name}" of "${input.database}" ${name === 'previous' ? 'does not exist: there are fewer than two backups' : 'does not exist (or never finished)'}. ` +
          (recent.length ? `Newest: ${recent.join(', ')}. ` : 'There are no backups. ') +
          `List them with \`pgwarden backups list --db ${input.database}\`.`,
      );
    }
    return { manifest: found.manifest, repository: found.repositories[0]! };
  };
  return { from: pick(input.from), to: pick(input.to) };
}

/** Two backups side by side: rows and sizes per table, tables added and removed, definitions changed. */
export async function diffBackups(config: Config, input: BackupDiffInput): Promise<BackupDiff> {
  const { from, to } = await resolvePair(config, input);
  const tables = compareTables(tablesOf(from.manifest), tablesOf(to.manifest));
  const side = (m: BackupManifest) => ({ id: m.id, kind: m.kind, finishedAt: m.finishedAt, ...(m.migrationId !== undefined ? { migrationId: m.migrationId } : {}) });
  const diff: BackupDiff = {
    database: input.database,
    from: side(from.manifest),
    to: side(to.manifest),
    tables,
    added: tables.filter((t) => t.status === 'added').map((t) => t.table),
    removed: tables.filter((t) => t.status === 'removed').map((t) => t.table),
    definitions: [],
  };
  try {
    const [before, after] = await Promise.all([tableDefinitions(config, input.database, from), tableDefinitions(config, input.database, to)]);
    diff.definitions = diffDefinitions(before, after);
  } catch (error) {
    diff.definitionsError = `${(error as Error).message.split('\n')[0]} (the table counts above are from the manifests and stand)`;
  }
  return diff;
}

/**
 * The definition of every table in a backup's schema objects (pre-data: tables; post-data: indexes, constraints),
 * as the SQL pg_restore prints from them: read through the usual checks (sha256, decryption), never loaded.
 */
export async function tableDefinitions(config: Config, database: string, located: { manifest: BackupManifest; repository: string }): Promise<Record<string, TableDefinition>> {
  const { manifest } = located;
  const repo = openRepository(config, located.repository);
  const folder = backupFolder(database, 'logical', manifest.id);
  const { secret } = await objectSecretOf(config, repo, folder, manifest);
  const pgRestore = await pgTool('pg_restore', Math.floor(manifest.server.versionNum / 10_000), config.postgres.binDir);
  let sql = '';
  for (const object of manifest.objects.filter((o) => (o.role === 'pre-data' || o.role === 'post-data') && o.format === 'custom')) {
    const out = await unsealInto(repo, { key: `${folder}${object.name}`, sha256: object.sha256, storedBytes: object.storedBytes }, secret, [{ command: pgRestore, args: ['--file=-'], label: 'pg_restore' }], { output: 'collect' });
    sql += `${out.toString('utf8')}\n`;
  }
  return parseDefinitions(sql);
}

/** pg_restore's SQL, split at its "-- Name: …; Type: …; Schema: …" headers, into tables, indexes and constraints. */
export function parseDefinitions(sql: string): Record<string, TableDefinition> {
  const out: Record<string, TableDefinition> = {};
  const entry = (table: string) => (out[table] ??= { table: '', indexes: {}, constraints: {} });
  const parts = sql.split(/^--\n-- Name: /m).slice(1);
  for (const part of parts) {
    const header = /^(.*?); Type: ([A-Z ]+); Schema: ([^;]+);/.exec(part);
    if (!header) continue;
    const type = header[2];
    // The statement: what follows the header's closing "--" line, without comments and blank lines.
    const body = part.split(/^--\s*$/m).slice(1).join('').split('\n').filter((l) => l.trim() && !l.startsWith('--')).join('\n').trim();
    if (type === 'TABLE') {
      const created = /^CREATE (?:UNLOGGED )?TABLE (.+?) \($/m.exec(body);
      if (created) {
        const table = entry(created[1]!);
        // Check constraints are written inside CREATE TABLE: constraints of their own, as the others are. Commas
        // go, so that a column added last does not change the line before it.
        const lines = body.split(/;\s*$/m)[0]!.split('\n').map((l) => l.replace(/,$/, ''));
        const columns: string[] = [];
        for (const line of lines) {
          const check = /^\s+CONSTRAINT (\S+|"[^"]+") (.*)$/.exec(line);
          if (check) table.constraints[check[1]!] = `CONSTRAINT ${check[1]} ${check[2]}`;
          else columns.push(line);
        }
        table.table = `${columns.join('\n')};${table.table}`;
      }
    } else if (type === 'DEFAULT') {
      // Column defaults come as statements of their own (serial columns' nextval): part of the columns.
      const set = /^ALTER TABLE (?:ONLY )?(.+?) ALTER COLUMN .+;$/m.exec(body);
      if (set) entry(set[1]!).table += `\n${set[0]}`;
    } else if (type === 'INDEX') {
      const on = /^CREATE (?:UNIQUE )?INDEX (\S+|"[^"]+") ON (?:ONLY )?(.+?) USING /m.exec(body);
      if (on) entry(on[2]!).indexes[on[1]!] = body.split('\n').find((l) => l.startsWith('CREATE'))!;
    } else if (type === 'CONSTRAINT' || type === 'FK CONSTRAINT' || type === 'CHECK CONSTRAINT') {
      const alter = /^ALTER TABLE (?:ONLY )?(.+?)\s+ADD CONSTRAINT (\S+|"[^"]+") ([\s\S]*?);\s*$/m.exec(body);
      if (alter) entry(alter[1]!).constraints[alter[2]!] = `ALTER TABLE ${alter[1]} ADD CONSTRAINT ${alter[2]} ${alter[3]!.replace(/\s+/g, ' ')};`;
    }
  }
  return out;
}

export function contentsActivities(config: Config) {
  return {
    /** The rows-dropped rule's facts for a finished backup; the dropped tables listed are capped to keep history small. */
    async compareWithPreviousBackup(input: { database: string; backupId: string; kind: BackupKind }): Promise<BackupComparison | undefined> {
      const comparison = await compareWithPrevious(config, input.database, input.backupId, input.kind);
      return comparison && { ...comparison, dropped: comparison.dropped.slice(0, 50) };
    },
    async diffBackups(input: BackupDiffInput): Promise<BackupDiff> {
      return diffBackups(config, input);
    },
  };
}
