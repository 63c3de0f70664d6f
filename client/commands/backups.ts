// pgwarden backups list|diff --db NAME: what the repositories hold, and how two backups differ (read directly:
// works with Temporal down).
import { diffBackups } from '../../activities/catalog/contents.js';
import { scanBackupsEverywhere } from '../../activities/catalog/locate.js';
import { describeBackupKey } from '../../activities/keys/backup-keys.js';
import { loadKeyring } from '../../activities/keys/keyring.js';
import { openRepository } from '../../activities/storage/open.js';
import type { BackupDiff } from '../../domain/contents.js';
import { PgwardenError } from '../../domain/errors.js';
import { databaseView } from '../../config/load.js';
import type { CommandContext } from '../context.js';
import { formatBytes, formatDuration } from '../output.js';

export async function listBackupsCommand(ctx: CommandContext, options: { db: string; repository?: string }): Promise<void> {
  const db = databaseView(ctx.config, options.db);
  if (options.repository !== undefined && !db.allRepositories.includes(options.repository)) {
    throw new PgwardenError('Config', `Database "${options.db}" is not backed up to repository "${options.repository}" (it uses ${db.allRepositories.join(', ')}).`);
  }
  // Every repository any kind goes to: a pre-migration backup may live where the daily ones do not.
  const repositories = options.repository !== undefined ? [options.repository] : db.allRepositories;
  const { backups, damaged } = await scanBackupsEverywhere(ctx.config, options.db, repositories);
  // Which configured key opens each backup (from fingerprints: nothing is decrypted); the list works without keys.
  const keyring = await loadKeyring(ctx.config).catch((error: Error) => error);
  const keys = await Promise.all(backups.map(({ manifest }) => (keyring instanceof Error ? undefined : describeBackupKey(keyring, manifest))));
  const rows = backups.map(({ manifest: m, repositories: holding }, i) => ({
    id: m.id,
    kind: m.kind,
    ...(m.migrationId !== undefined ? { migrationId: m.migrationId } : {}),
    finishedAt: m.finishedAt,
    storedBytes: m.storedBytes,
    rawBytes: m.rawBytes,
    tables: Object.keys(m.tables).length,
    rows: Object.values(m.tables).reduce((a, b) => a + b, 0),
    durationMs: Date.parse(m.finishedAt) - Date.parse(m.startedAt),
    serverVersion: m.server.version,
    repositories: holding,
    workflowId: m.temporal?.workflowId,
    opensWith: keys[i]?.opensWith ?? null,
    wrappedFor: keys[i]?.wrappedFor ?? [],
  }));
  const latest = rows.at(-1);
  const ageMs = latest ? Date.now() - Date.parse(latest.finishedAt) : undefined;
  const result = {
    database: options.db,
    repositories: repositories.map((name) => ({ name, location: openRepository(ctx.config, name).location })),
    backups: rows,
    /** Folders whose manifest cannot be used (broken, or from a newer pgwarden): restores and retention skip them. */
    damaged,
    latestAgeMs: ageMs,
    rpoMs: db.rpoMs,
    withinRpo: ageMs !== undefined && db.rpoMs !== undefined ? ageMs <= db.rpoMs : undefined,
  };
  const damagedLines = damaged.length
    ? [`${damaged.length} damaged backup(s), skipped by restores and retention:`, ...damaged.map((d) => `  ${d.id}  DAMAGED: ${d.reason}`)]
    : [];
  if (ctx.out.json) for (const d of damaged) ctx.out.info(`pgwarden: warning: backup ${d.id} in "${d.repository}" is damaged and skipped: ${d.reason}`);
  ctx.out.result(result, () => {
    const where = result.repositories.map((r) => `"${r.name}" (${r.location})`).join(', ');
    if (rows.length === 0) return [`No ${damaged.length ? 'usable ' : ''}backups of ${options.db} in ${where}.`, ...damagedLines].join('\n');
    const header = ['BACKUP ID', 'KIND', 'MIGRATION', 'FINISHED (UTC)', 'STORED', 'DUMPED', 'TABLES', 'ROWS', 'TOOK', 'IN', 'OPENS WITH'];
    const table = rows.map((r) => [
      r.id,
      r.kind,
      r.migrationId ?? '-',
      r.finishedAt.replace('T', ' ').replace(/\.\d+Z$/, ''),
      formatBytes(r.storedBytes),
      formatBytes(r.rawBytes),
      String(r.tables),
      r.rows.toLocaleString('en-US'),
      formatDuration(r.durationMs),
      r.repositories.join('+'),
      r.opensWith ?? (keyring instanceof Error ? '?' : `NO CONFIGURED KEY (needs ${r.wrappedFor.join(' or ')})`),
    ]);
    const widths = header.map((h, i) => Math.max(h.length, ...table.map((row) => row[i]!.length)));
    const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
    const rpo =
      db.rpoMs === undefined
        ? ''
        : `; RPO ${formatDuration(db.rpoMs)}: ${result.withinRpo ? 'met' : 'MISSED, the newest backup is older than the RPO'}`;
    return [
      `${rows.length} backup(s) of ${options.db} in ${where}, newest ${formatDuration(ageMs!)} ago${rpo}`,
      line(header),
      ...table.map(line),
      ...(keyring instanceof Error ? [`(which key opens each backup is unknown: ${keyring.message})`] : []),
      ...damagedLines,
    ].join('\n');
  });
}

/** pgwarden backups diff --db NAME A B: two backups side by side, from manifests and schema objects (Temporal not needed). */
export async function diffBackupsCommand(ctx: CommandContext, options: { db: string; args: string[] }): Promise<void> {
  const [from, to] = options.args as [string, string];
  databaseView(ctx.config, options.db);
  const diff = await diffBackups(ctx.config, { database: options.db, from, to });
  ctx.out.result(diff, () => {
    const side = (s: BackupDiff['from']) => `${s.id} (${s.kind}${s.migrationId !== undefined ? ` before ${s.migrationId}` : ''}, finished ${s.finishedAt.replace('T', ' ').replace(/\.\d+Z$/, ' UTC')})`;
    const count = (n: number | undefined) => (n === undefined ? '-' : n.toLocaleString('en-US'));
    const size = (n: number | undefined) => (n === undefined ? '-' : formatBytes(n));
    const change = (t: BackupDiff['tables'][number]) => {
      if (t.status === 'added') return 'added';
      if (t.status === 'removed') return 'REMOVED';
      const delta = t.rowsAfter! - t.rowsBefore!;
      if (delta === 0) return t.status === 'same' ? '' : 'size';
      const share = t.rowsBefore ? ` (${delta > 0 ? '+' : ''}${Math.round((delta / t.rowsBefore) * 1000) / 10} %)` : '';
      return `${delta > 0 ? '+' : ''}${delta.toLocaleString('en-US')}${share}`;
    };
    const header = ['TABLE', 'ROWS BEFORE', 'ROWS AFTER', 'CHANGE', 'SIZE BEFORE', 'SIZE AFTER'];
    const table = diff.tables.map((t) => [t.table, count(t.rowsBefore), count(t.rowsAfter), change(t), size(t.bytesBefore), size(t.bytesAfter)]);
    const widths = header.map((h, i) => Math.max(h.length, ...table.map((row) => row[i]!.length)));
    const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
    const definitions = diff.definitionsError
      ? [`Definitions not compared: ${diff.definitionsError}`]
      : diff.definitions.length === 0
        ? ['No table definition changed (columns, indexes, constraints).']
        : [
            `Definitions changed in ${diff.definitions.length} table(s):`,
            ...diff.definitions.flatMap((d) => [`  ${d.table}: ${d.changes.join('; ')}`, ...d.before.map((s) => `    - ${s.replace(/\n/g, '\n      ')}`), ...d.after.map((s) => `    + ${s.replace(/\n/g, '\n      ')}`)]),
          ];
    return [
      `${options.db}: from ${side(diff.from)}`,
      `${' '.repeat(options.db.length)}    to ${side(diff.to)}`,
      line(header),
      ...table.map(line),
      `Tables added: ${diff.added.length ? diff.added.join(', ') : 'none'}; removed: ${diff.removed.length ? diff.removed.join(', ') : 'none'}.`,
      ...definitions,
    ].join('\n');
  });
}
