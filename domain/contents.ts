// What backups hold, set side by side: per table rows and sizes of two backups (the rows-dropped rule after each
// backup, `pgwarden backups diff`), and table definitions that changed between them. Pure: workflows, activities,
// client and tests share it.
import type { AlertObservation, RowsDroppedSettings } from './alerts.js';

/** One table in two backups; a side is missing where the table is not in that backup. */
export interface TableComparison {
  table: string; // qualified as the manifest keys it ("public.orders")
  rowsBefore?: number;
  rowsAfter?: number;
  /** pg_table_size on the server when the backup was taken (backups from before it was recorded have none). */
  bytesBefore?: number;
  bytesAfter?: number;
  status: 'same' | 'changed' | 'added' | 'removed';
}

/** What the manifest says of a backup's tables. */
export interface BackupTables {
  id: string;
  kind: string;
  finishedAt: string;
  tables: Record<string, number>;
  tableBytes?: Record<string, number>;
}

/** Every table of either backup, sorted by name. */
export function compareTables(before: BackupTables, after: BackupTables): TableComparison[] {
  const names = [...new Set([...Object.keys(before.tables), ...Object.keys(after.tables)])].sort();
  return names.map((table) => {
    const rowsBefore = before.tables[table];
    const rowsAfter = after.tables[table];
    const bytesBefore = before.tableBytes?.[table];
    const bytesAfter = after.tableBytes?.[table];
    const status = rowsBefore === undefined ? 'added' : rowsAfter === undefined ? 'removed' : rowsBefore !== rowsAfter || (bytesBefore !== undefined && bytesAfter !== undefined && bytesBefore !== bytesAfter) ? 'changed' : 'same';
    return {
      table,
      ...(rowsBefore !== undefined ? { rowsBefore } : {}),
      ...(rowsAfter !== undefined ? { rowsAfter } : {}),
      ...(bytesBefore !== undefined ? { bytesBefore } : {}),
      ...(bytesAfter !== undefined ? { bytesAfter } : {}),
      status,
    };
  });
}

/** A table the rule judged lost: fewer rows than it may have lost, or gone from the backup. */
export interface DroppedTable {
  table: string;
  rowsBefore: number;
  /** Absent: the table is not in the newer backup any more. */
  rowsAfter?: number;
  bytesBefore?: number;
  bytesAfter?: number;
  /** Share of its rows it lost (1 when it vanished). */
  lost: number;
}

/** The newest backup set against the one before it of the same database and kind: what the metric and the rule show. */
export interface BackupComparison {
  database: string;
  kind: string;
  backupId: string;
  /** Absent: no earlier backup of the kind to compare with (the first one, or everything before was removed). */
  previousId?: string;
  comparedAt: string;
  tables: number;
  /** Tables judged (not ignored) that were in the earlier backup. */
  judged: number;
  dropped: DroppedTable[];
  /** The largest share of rows any judged table lost (0 when none lost any). */
  maxLost: number;
  maxLoss: number;
}

function ignored(table: string, patterns: string[]): boolean {
  const bare = table.replace(/"/g, '');
  return patterns.some((p) => new RegExp(`^${p.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*')}$`).test(bare));
}

/** Judges each table of `previous` against `current`: which lost more than the allowed share of rows or vanished. */
export function judgeComparison(database: string, previous: BackupTables | undefined, current: BackupTables, settings: RowsDroppedSettings, nowIso: string): BackupComparison {
  const base = { database, kind: current.kind, backupId: current.id, comparedAt: nowIso, tables: Object.keys(current.tables).length, maxLoss: settings.maxLoss };
  if (!previous) return { ...base, judged: 0, dropped: [], maxLost: 0 };
  const dropped: DroppedTable[] = [];
  let judged = 0;
  let maxLost = 0;
  for (const c of compareTables(previous, current)) {
    if (c.rowsBefore === undefined || ignored(c.table, settings.ignore)) continue;
    judged += 1;
    const lost = c.rowsAfter === undefined ? 1 : c.rowsBefore === 0 ? 0 : Math.max(0, (c.rowsBefore - c.rowsAfter) / c.rowsBefore);
    maxLost = Math.max(maxLost, lost);
    if (c.rowsAfter === undefined || lost > settings.maxLoss) {
      dropped.push({
        table: c.table,
        rowsBefore: c.rowsBefore,
        ...(c.rowsAfter !== undefined ? { rowsAfter: c.rowsAfter } : {}),
        ...(c.bytesBefore !== undefined ? { bytesBefore: c.bytesBefore } : {}),
        ...(c.bytesAfter !== undefined ? { bytesAfter: c.bytesAfter } : {}),
        lost,
      });
    }
  }
  return { ...base, previousId: previous.id, judged, dropped, maxLost };
}

const percent = (share: number) => `${Math.round(share * 1000) / 10} %`;

/** "public.orders: 5,000 rows in 2026…-daily-ab12, 1,200 in 2026…-daily-cd34 (lost 76 %)". */
export function droppedText(d: DroppedTable, previousId: string, backupId: string): string {
  const before = `${d.rowsBefore.toLocaleString('en-US')} rows in ${previousId}`;
  return d.rowsAfter === undefined
    ? `${d.table}: ${before}, not in ${backupId} (the table is gone)`
    : `${d.table}: ${before}, ${d.rowsAfter.toLocaleString('en-US')} in ${backupId} (lost ${percent(d.lost)})`;
}

/** The rows-dropped rule on one comparison: fires when a table lost too much, clears when none did. */
export function rowsDroppedObservation(comparison: BackupComparison, at: string, link?: { workflowId: string; runId: string }): AlertObservation | undefined {
  // Nothing to compare with: the rule cannot say anything either way.
  if (comparison.previousId === undefined) return undefined;
  const { dropped, previousId, backupId } = comparison;
  const shown = dropped.slice(0, 10).map((d) => droppedText(d, previousId, backupId));
  const more = dropped.length > shown.length ? `; and ${dropped.length - shown.length} more table(s)` : '';
  return {
    rule: 'rows-dropped',
    firing: dropped.length > 0,
    at,
    ...(link ? { link } : {}),
    summary:
      dropped.length > 0
        ? `${dropped.length} table(s) lost more than ${percent(comparison.maxLoss)} of their rows or vanished between ${comparison.kind} backups ${previousId} and ${backupId}: ${shown.join('; ')}${more}. ` +
          `If that was not intended, restore the rows from ${previousId} (\`pgwarden backups diff --db ${comparison.database} ${previousId} ${backupId}\` shows every table); if it was, add the table to alerts.rowsDropped.ignore`
        : `no table lost more than ${percent(comparison.maxLoss)} of its rows between ${comparison.kind} backups ${previousId} and ${backupId} (${comparison.judged} table(s) compared)`,
    details: {
      backupId,
      previousId,
      kind: comparison.kind,
      tables: dropped.map((d) => d.table).join(','),
      maxLostPercent: Math.round(comparison.maxLost * 1000) / 10,
    },
  };
}

/** Definitions of one table as the schema objects of a backup hold them (the SQL pg_restore prints). */
export interface TableDefinition {
  /** CREATE TABLE … (columns, defaults, NOT NULL). */
  table: string;
  /** Index name -> CREATE INDEX statement (those behind constraints are under constraints). */
  indexes: Record<string, string>;
  /** Constraint name -> ALTER TABLE … ADD CONSTRAINT statement (primary keys, uniques, checks, foreign keys). */
  constraints: Record<string, string>;
}

export interface DefinitionChange {
  table: string;
  /** What changed: "columns", "index orders_user_idx added", "constraint orders_total_check removed"… */
  changes: string[];
  /** The statements before and after, for those that changed. */
  before: string[];
  after: string[];
}

/** Table by table, what changed in the definitions of tables present in both backups. */
export function diffDefinitions(before: Record<string, TableDefinition>, after: Record<string, TableDefinition>): DefinitionChange[] {
  const out: DefinitionChange[] = [];
  for (const table of Object.keys(after).sort()) {
    const a = after[table]!;
    const b = before[table];
    if (!b) continue;
    const change: DefinitionChange = { table, changes: [], before: [], after: [] };
    if (b.table !== a.table) {
      change.changes.push('columns');
      change.before.push(b.table);
      change.after.push(a.table);
    }
    for (const [what, left, right] of [['index', b.indexes, a.indexes] as const, ['constraint', b.constraints, a.constraints] as const]) {
      for (const name of [...new Set([...Object.keys(left), ...Object.keys(right)])].sort()) {
        const l = left[name];
        const r = right[name];
        if (l === r) continue;
        change.changes.push(`${what} ${name} ${l === undefined ? 'added' : r === undefined ? 'removed' : 'changed'}`);
        if (l !== undefined) change.before.push(l);
        if (r !== undefined) change.after.push(r);
      }
    }
    if (change.changes.length) out.push(change);
  }
  return out;
}

/** `pgwarden backups diff` and the backupDiffWorkflow: two backups of one database set side by side. */
export interface BackupDiffInput {
  database: string;
  /** Backup ids, or "latest" / "previous" (the one before the newest). */
  from: string;
  to: string;
}

export interface BackupDiff {
  database: string;
  from: { id: string; kind: string; finishedAt: string; migrationId?: string };
  to: { id: string; kind: string; finishedAt: string; migrationId?: string };
  tables: TableComparison[];
  added: string[];
  removed: string[];
  definitions: DefinitionChange[];
  /** Why definitions could not be compared (a schema object unreadable): the row counts still stand. */
  definitionsError?: string;
}
