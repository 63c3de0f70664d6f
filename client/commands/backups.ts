// pgwarden backups list --db NAME: what the repository holds (read directly: works with Temporal down).
import { scanBackups } from '../../activities/catalog/list.js';
import { openRepository } from '../../activities/storage/open.js';
import { databaseView } from '../../config/load.js';
import type { CommandContext } from '../context.js';
import { formatBytes, formatDuration } from '../output.js';

export async function listBackupsCommand(ctx: CommandContext, options: { db: string; repository?: string }): Promise<void> {
  const db = databaseView(ctx.config, options.db);
  const repoName = options.repository ?? db.repositories[0]!;
  const repo = openRepository(ctx.config, repoName);
  const { backups: manifests, damaged } = await scanBackups(repo, options.db, 'logical');
  const rows = manifests.map((m) => ({
    id: m.id,
    kind: m.kind,
    finishedAt: m.finishedAt,
    storedBytes: m.storedBytes,
    rawBytes: m.rawBytes,
    tables: Object.keys(m.tables).length,
    rows: Object.values(m.tables).reduce((a, b) => a + b, 0),
    durationMs: Date.parse(m.finishedAt) - Date.parse(m.startedAt),
    serverVersion: m.server.version,
    workflowId: m.temporal?.workflowId,
  }));
  const latest = rows.at(-1);
  const ageMs = latest ? Date.now() - Date.parse(latest.finishedAt) : undefined;
  const result = {
    database: options.db,
    repository: repoName,
    location: repo.location,
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
  if (ctx.out.json) for (const d of damaged) ctx.out.info(`pgwarden: warning: backup ${d.id} is damaged and skipped: ${d.reason}`);
  ctx.out.result(result, () => {
    if (rows.length === 0) return [`No ${damaged.length ? 'usable ' : ''}backups of ${options.db} in repository "${repoName}" (${repo.location}).`, ...damagedLines].join('\n');
    const header = ['BACKUP ID', 'KIND', 'FINISHED (UTC)', 'STORED', 'DUMPED', 'TABLES', 'ROWS', 'TOOK'];
    const table = rows.map((r) => [
      r.id,
      r.kind,
      r.finishedAt.replace('T', ' ').replace(/\.\d+Z$/, ''),
      formatBytes(r.storedBytes),
      formatBytes(r.rawBytes),
      String(r.tables),
      r.rows.toLocaleString('en-US'),
      formatDuration(r.durationMs),
    ]);
    const widths = header.map((h, i) => Math.max(h.length, ...table.map((row) => row[i]!.length)));
    const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
    const rpo =
      db.rpoMs === undefined
        ? ''
        : `; RPO ${formatDuration(db.rpoMs)}: ${result.withinRpo ? 'met' : 'MISSED, the newest backup is older than the RPO'}`;
    return [
      `${rows.length} backup(s) of ${options.db} in "${repoName}" (${repo.location}), newest ${formatDuration(ageMs!)} ago${rpo}`,
      line(header),
      ...table.map(line),
      ...damagedLines,
    ].join('\n');
  });
}
