// Turns the measurements into the results table (Markdown) and keeps everything as JSON.
import type { BenchOptions, Measurement, Operation } from './context.js';
import { coreSecondsPerGb } from './cpu.js';
import type { EncryptionRow } from './encryption.js';
import type { DatabaseSizes, DumpRatio } from './generate.js';
import type { MachineInfo } from './machine.js';
import { fmtBytes, fmtRate, fmtRatio, fmtSeconds, median } from './util.js';

export interface ToolSummary {
  name: string;
  label: string;
  description: string;
  pending?: string;
  comparesTo?: string[];
  error?: string;
}

export interface BenchResults {
  startedAt: string;
  finishedAt: string;
  options: BenchOptions;
  machine: MachineInfo;
  data: { orders: number; loadMs: number; sizes: DatabaseSizes; dump: DumpRatio };
  tools: ToolSummary[];
  measurements: Measurement[];
  encryption: EncryptionRow[];
  loadAverageAtEnd?: string;
  /** Median of BackupResult.firstByteMs: workflow start to pg_dump's first byte. */
  temporalOverheadMs?: number;
}

/** What the tools are compared on (ratios, targets, CPU per GB). */
const OPERATIONS: Operation[] = ['backup', 'restore'];
/** What the tables show: also the one-table restore, which only pgwarden logical measures (none in older results files). */
const ROW_OPERATIONS: Operation[] = [...OPERATIONS, 'table-restore'];

export interface RowSummary {
  tool: string;
  operation: Operation;
  runs: number;
  wallMs?: number;
  storedBytes?: number;
  workerPeakRssBytes?: number;
  treePeakRssBytes?: number;
  /** Median CPU time of the pgwarden worker process per operation. */
  workerCpuMs?: number;
  /** Median time to a writable server (physical restores; absent when a run lacks it, as in older results files). */
  writableMs?: number;
  phases: Record<string, number>;
}

export function summarize(results: BenchResults, tool: string, operation: Operation): RowSummary {
  const rows = results.measurements.filter((m) => m.tool === tool && m.operation === operation);
  const phases: Record<string, number> = {};
  for (const name of Object.keys(rows[0]?.phases ?? {})) phases[name] = median(rows.map((r) => r.phases[name] ?? NaN)) ?? NaN;
  const med = (pick: (m: Measurement) => number | undefined) => median(rows.map(pick).filter((v): v is number => v !== undefined));
  const summary: RowSummary = { tool, operation, runs: rows.length, phases };
  const wall = med((m) => m.wallMs);
  if (wall !== undefined) summary.wallMs = wall;
  // Only when every run has it: a median of some runs would not be the row's.
  if (rows.length > 0 && rows.every((m) => m.writableMs !== undefined)) summary.writableMs = median(rows.map((m) => m.writableMs!))!;
  const cpu = med((m) => m.workerCpuMs);
  if (cpu !== undefined) summary.workerCpuMs = cpu;
  const stored = med((m) => m.storedBytes);
  if (stored !== undefined) summary.storedBytes = stored;
  // Peaks: the highest of the runs, not the median (memory must fit the worst run).
  const worker = rows.map((m) => m.workerPeakRssBytes).filter((v): v is number => v !== undefined);
  if (worker.length) summary.workerPeakRssBytes = Math.max(...worker);
  const tree = rows.map((m) => m.treePeakRssBytes).filter((v): v is number => v !== undefined && v > 0);
  if (tree.length) summary.treePeakRssBytes = Math.max(...tree);
  return summary;
}

/** The table of a one-table restore and its share of the database (median of the rounds), from the measurements' notes. */
export function tableRestoreOf(results: BenchResults, tool: string): { table: string; share?: number } | undefined {
  const rows = results.measurements.filter((m) => m.tool === tool && m.operation === 'table-restore');
  const table = rows.map((m) => m.notes?.table).find((t): t is string => typeof t === 'string');
  if (table === undefined) return undefined;
  const share = median(rows.map((m) => m.notes?.tableShare).filter((v): v is number => typeof v === 'number'));
  return share === undefined ? { table } : { table, share };
}

/** How the tables name an operation: the one-table restore says which table and how much of the data it is. */
export function operationLabel(results: BenchResults, tool: string, operation: Operation): string {
  if (operation !== 'table-restore') return operation;
  const of = tableRestoreOf(results, tool);
  if (!of) return 'restore --table';
  return `restore --table ${of.table}${of.share !== undefined ? ` (${(100 * of.share).toFixed(1)} % of the database)` : ''}`;
}

/**
 * The wall time cell. A one-table restore also gives its ratio to the tool's full restore of the same backups: how much
 * of the full restore's time getting one table back costs.
 */
function wallCell(results: BenchResults, s: RowSummary): string {
  if (s.operation !== 'table-restore') return `${fmtSeconds(s.wallMs)}${writableNote(s)}`;
  const full = summarize(results, s.tool, 'restore').wallMs;
  return `${fmtSeconds(s.wallMs)} (${s.wallMs !== undefined && full !== undefined ? fmtRatio(s.wallMs / full) : 'n/a'} the full restore)`;
}

/** " (writable after 2.90 s)" for a restore whose server accepted writes before the end (pgwarden's PITR: verification, the result). */
function writableNote(s: { wallMs?: number; writableMs?: number }): string {
  return s.writableMs !== undefined && s.wallMs !== undefined && s.writableMs < s.wallMs ? ` (writable after ${fmtSeconds(s.writableMs)})` : '';
}

/**
 * A physical restore against its peer: time to writable against time to writable when both rows have it, with the
 * whole time (pgwarden's verification and result included) beside it; wall against wall for older results files.
 */
export function restoreRatio(results: BenchResults, tool: string, peer: string): { writable?: number; wall?: number } {
  const a = summarize(results, tool, 'restore');
  const b = summarize(results, peer, 'restore');
  const ratio: { writable?: number; wall?: number } = {};
  if (a.writableMs !== undefined && b.writableMs !== undefined) ratio.writable = a.writableMs / b.writableMs;
  if (a.wallMs !== undefined && b.wallMs !== undefined) ratio.wall = a.wallMs / b.wallMs;
  return ratio;
}

/** A Markdown table cell: a "|" inside would end it. */
const cell = (text: string) => text.replace(/\|/g, '\\|');
const fmtCoreSeconds = (cpuMs: number, bytes: number) => `${coreSecondsPerGb(cpuMs, bytes).toFixed(2)} core-s`;
const fmtMiB = (bytes: number | undefined) => (bytes === undefined ? '' : `${(bytes / (1024 * 1024)).toFixed(0)} MiB`);

export function renderMarkdown(results: BenchResults): string {
  const db = results.data.sizes.databaseBytes;
  const m = results.machine;
  const lines: string[] = [];
  const push = (...more: string[]) => lines.push(...more);
  push(
    `# pgwarden benchmark`,
    '',
    `${results.startedAt} → ${results.finishedAt}; ${results.options.runs} run(s) of each tool, alternating (round-robin); medians shown.`,
    '',
    `**Machine**: ${m.cpuModel}, ${m.cores} cores, ${(m.ramBytes / 1024 ** 3).toFixed(1)} GiB RAM, Linux ${m.kernel} (${m.os}); ${m.postgres}. ` +
      `Load average at start: ${m.loadAverageAtStart}${results.loadAverageAtEnd ? `, at the end: ${results.loadAverageAtEnd}` : ''}.`,
    '',
    `**Data**: Cartly schema, ${results.data.orders.toLocaleString('en-US')} orders (bench/data.ts), loaded in ${fmtSeconds(results.data.loadMs)}. ` +
      `Database size (pg_database_size, the "database MB" of every MB/s): **${fmtBytes(db)}** ` +
      `(tables incl. TOAST ${fmtBytes(results.data.sizes.tableBytes)}, indexes ${fmtBytes(results.data.sizes.indexBytes)}; whole cluster ${fmtBytes(results.data.sizes.clusterBytes)}). ` +
      `\`pg_dump -Fp\`: ${fmtBytes(results.data.dump.plainBytes)}, through \`zstd -3\`: ${fmtBytes(results.data.dump.zstdBytes)}: ` +
      `**compression ratio ${results.data.dump.ratio.toFixed(2)}:1**.`,
    '',
    '| tool | operation | wall time (median) | database MB/s | stored | stored / database | pgwarden worker peak RSS (VmHWM) | process tree peak RSS | pgwarden worker CPU per GB | runs |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  );
  for (const tool of results.tools) {
    if (tool.pending || tool.error) {
      push(`| ${tool.label} | backup, restore | ${tool.pending ? 'pending' : 'FAILED'} | | | | | | | 0 |`);
      continue;
    }
    for (const operation of ROW_OPERATIONS) {
      const s = summarize(results, tool.name, operation);
      if (s.runs === 0) continue;
      // Per GB of the database means nothing for a restore of one table: its rate and CPU cells stay empty.
      const whole = operation !== 'table-restore';
      push(
        `| ${tool.label} | ${operationLabel(results, tool.name, operation)} | ${wallCell(results, s)} | ${whole ? fmtRate(db, s.wallMs) : ''} | ${s.storedBytes !== undefined ? fmtBytes(s.storedBytes) : ''} | ` +
          `${s.storedBytes !== undefined ? `${((100 * s.storedBytes) / db).toFixed(1)} %` : ''} | ${fmtMiB(s.workerPeakRssBytes)} | ${fmtMiB(s.treePeakRssBytes)} | ` +
          `${whole && s.workerCpuMs !== undefined ? fmtCoreSeconds(s.workerCpuMs, db) : ''} | ${s.runs} |`,
      );
    }
  }
  if (results.temporalOverheadMs !== undefined) {
    push('', `**Temporal overhead** (median BackupResult.firstByteMs: workflow start to the first byte from pg_dump): ${fmtSeconds(results.temporalOverheadMs)}.`);
  }

  const targets = targetRows(results);
  if (targets.length) {
    push(
      '',
      '## Targets',
      '',
      'What pgwarden is held to (issue 13), from the medians above; "not measured" where a tool did not run.',
      '',
      '| target | measured | met |',
      '| --- | ---: | --- |',
      ...targets.map((t) => `| ${cell(t.target)} | ${t.measured} | ${t.met === undefined ? 'not measured' : t.met ? 'yes' : '**no**'} |`),
    );
  }
  const cpu = cpuRows(results);
  if (cpu.length) {
    push(
      '',
      '## pgwarden worker CPU per GB',
      '',
      'CPU time (user + system, from /proc/PID/stat) of the worker process itself during each operation, per GB of database (pg_database_size); ' +
        'its children (pg_dump, psql, zstd, gpg) are not included. Medians of the runs.',
      '',
      '| worker | backup | restore |',
      '| --- | ---: | ---: |',
      ...cpu,
    );
  }

  // pgwarden ÷ peer.
  const ratioRows: string[] = [];
  for (const tool of results.tools.filter((t) => t.comparesTo && !t.pending && !t.error)) {
    for (const peer of tool.comparesTo ?? []) {
      const peerTool = results.tools.find((t) => t.name === peer);
      if (!peerTool || peerTool.pending || peerTool.error) continue;
      const cells = OPERATIONS.map((op) => {
        if (op === 'restore') {
          const r = restoreRatio(results, tool.name, peer);
          if (r.writable !== undefined) return `${fmtRatio(r.writable)} to writable (${fmtRatio(r.wall)} to the end, verified)`;
        }
        const a = summarize(results, tool.name, op).wallMs;
        const b = summarize(results, peer, op).wallMs;
        return a !== undefined && b !== undefined ? fmtRatio(a / b) : 'n/a';
      });
      const sa = summarize(results, tool.name, 'backup').storedBytes;
      const sb = summarize(results, peer, 'backup').storedBytes;
      ratioRows.push(`| ${tool.label} ÷ ${peerTool.label} | ${cells[0]} | ${cells[1]} | ${sa !== undefined && sb !== undefined ? fmtRatio(sa / sb) : 'n/a'} |`);
    }
  }
  if (ratioRows.length) {
    push(
      '',
      '## pgwarden ÷ peer',
      '',
      'Below 1× pgwarden is faster (time) or smaller (stored); above 1× the peer is. Physical restores compare the time to a writable ' +
        'server (promoted) with the time to a writable server; the time to the end (pgwarden: its verification and result too) is in brackets.',
      '',
      '| ratio | backup wall time | restore wall time | stored size |',
      '| --- | ---: | ---: | ---: |',
      ...ratioRows,
    );
  }

  // Phases.
  push('', '## Phases (medians)', '', '| tool | operation | phase | time | database MB/s |', '| --- | --- | --- | ---: | ---: |');
  for (const tool of results.tools.filter((t) => !t.pending && !t.error)) {
    for (const operation of ROW_OPERATIONS) {
      const s = summarize(results, tool.name, operation);
      const label = operationLabel(results, tool.name, operation);
      for (const [phase, ms] of Object.entries(s.phases)) push(`| ${tool.label} | ${label} | ${cell(phase)} | ${fmtSeconds(ms)} | ${operation === 'table-restore' ? '' : fmtRate(db, ms)} |`);
    }
  }

  // Every run, to judge the noise; and the worker's RSS when each operation started (the peak includes it).
  push('', '## All runs', '', `| tool | operation | ${Array.from({ length: results.options.runs }, (_, i) => `run ${i + 1}`).join(' | ')} |`, `| --- | --- |${' ---: |'.repeat(results.options.runs)}`);
  for (const tool of results.tools.filter((t) => !t.pending)) {
    for (const operation of ROW_OPERATIONS) {
      const runs = results.measurements.filter((x) => x.tool === tool.name && x.operation === operation).sort((a, b) => a.round - b.round);
      if (runs.length === 0) continue;
      const cells = Array.from({ length: results.options.runs }, (_, i) => {
        const run = runs.find((x) => x.round === i + 1);
        if (!run) return '';
        const before = run.notes?.workerRssBeforeBytes;
        const rss = run.workerPeakRssBytes !== undefined ? ` (worker RSS ${typeof before === 'number' ? `${fmtMiB(before)} → ` : ''}peak ${fmtMiB(run.workerPeakRssBytes)})` : '';
        return `${fmtSeconds(run.wallMs)}${writableNote(run)}${rss}`;
      });
      push(`| ${tool.label} | ${operationLabel(results, tool.name, operation)} | ${cells.join(' | ')} |`);
    }
  }

  if (results.encryption.length) {
    const input = results.encryption[0]!.inputBytes;
    push(
      '',
      '## Encryption step alone',
      '',
      `Over the same file: the \`pg_dump -Fp | zstd -3\` dump (${fmtBytes(input)}), file to file, ${results.encryption[0]!.runsMs.length} run(s) each, alternating. MB/s of that file.`,
      '',
      '| method | time (median) | MB/s |',
      '| --- | ---: | ---: |',
      ...results.encryption.map((e) => `| ${cell(e.method)} | ${fmtSeconds(e.medianMs)} | ${fmtRate(e.inputBytes, e.medianMs)} |`),
    );
  }

  push('', '## What each row measures', '');
  for (const tool of results.tools) push(`- **${tool.label}**: ${tool.pending ? `*${tool.pending}.* ` : ''}${tool.error ? `*FAILED: ${tool.error}* ` : ''}${tool.description}`);
  push(
    '- All three use one S3 server: versitygw (posix backend, local disk) over https with a self-signed certificate, because pgBackRest speaks S3 only over TLS.',
    '- Logical restores (runbook, pgwarden) go into a second PostgreSQL cluster without WAL archiving; pgBackRest restores a whole cluster into a new data directory.',
    '- `sync` runs (untimed) between operations; the database fits in RAM, so reads come from the page cache for every tool alike.',
    '- Peak RSS: the pgwarden worker\'s own VmHWM (reset before each operation through /proc/PID/clear_refs); "process tree" is the highest sampled (100 ms) sum of VmRSS over the tool\'s processes (pgwarden: worker, pg_dump, zstd, psql/pg_restore; pgBackRest: all its processes; runbook: each shell step, the upload in this process excluded). Highest of the runs.',
    '',
    '## Versions',
    '',
    ...Object.entries(m.versions).map(([k, v]) => `- ${k}: ${v}`),
    '',
    `Options: ${JSON.stringify(results.options)}`,
    '',
  );
  return lines.join('\n');
}

/** The main table for the terminal (the Markdown file has the details). */
export function renderConsole(results: BenchResults): string {
  return renderMarkdown(results).split('\n## What each row measures')[0]!.replace(/\*\*/g, '');
}

interface TargetRow {
  target: string;
  measured: string;
  met?: boolean;
}

const MiB = 1024 * 1024;

/** Each target of issue 13 against the medians (undefined met: a tool it needs did not run). */
export function targetRows(results: BenchResults): TargetRow[] {
  const ran = (tool: string) => results.tools.some((t) => t.name === tool && !t.pending && !t.error);
  const wall = (tool: string, op: Operation) => (ran(tool) ? summarize(results, tool, op).wallMs : undefined);
  const rows: TargetRow[] = [];
  const speedup = (target: string, op: Operation, atLeast: number) => {
    const a = wall('runbook', op);
    const b = wall('pgwarden', op);
    const x = a !== undefined && b !== undefined ? a / b : undefined;
    rows.push({ target, measured: x === undefined ? 'n/a' : `${x.toFixed(2)}× faster`, ...(x === undefined ? {} : { met: x >= atLeast }) });
  };
  const ratio = (target: string, tool: string, peer: string, op: Operation, atMost: number) => {
    const a = wall(tool, op);
    const b = wall(peer, op);
    const x = a !== undefined && b !== undefined ? a / b : undefined;
    rows.push({ target, measured: x === undefined ? 'n/a' : `${x.toFixed(2)}×`, ...(x === undefined ? {} : { met: x <= atMost }) });
  };
  speedup('logical backup at least 4× faster than the runbook', 'backup', 4);
  speedup('logical restore at least 2× faster than the runbook', 'restore', 2);
  ratio('base backup ÷ pgBackRest backup ≤ 1.0×', 'pgwarden-pitr', 'pgbackrest', 'backup', 1);
  {
    // Writable against writable; results files from before issue 22 have no time to writable: wall against wall, said so.
    const r = ran('pgwarden-pitr') && ran('pgbackrest') ? restoreRatio(results, 'pgwarden-pitr', 'pgbackrest') : {};
    if (r.writable !== undefined) {
      rows.push({
        target: 'PITR restore to writable ÷ pgBackRest restore to writable ≤ 1.0×',
        measured: `${r.writable.toFixed(2)}× (${r.wall === undefined ? 'n/a' : `${r.wall.toFixed(2)}×`} to the end, verified)`,
        met: r.writable <= 1,
      });
    } else {
      rows.push({
        target: 'PITR restore ÷ pgBackRest restore ≤ 1.0×',
        measured: r.wall === undefined ? 'n/a' : `${r.wall.toFixed(2)}× (wall times: no time to writable in this results file)`,
        ...(r.wall === undefined ? {} : { met: r.wall <= 1 }),
      });
    }
  }
  ratio('logical backup ÷ pg_dump -Fd -j N ≤ 1.2×', 'pgwarden', 'pgdump-dir', 'backup', 1.2);
  ratio('logical restore ÷ pg_restore -j N ≤ 1.2×', 'pgwarden', 'pgdump-dir', 'restore', 1.2);
  const peaks = ['pgwarden', 'pgwarden-pitr']
    .filter(ran)
    .flatMap((tool) => ROW_OPERATIONS.map((op) => summarize(results, tool, op).workerPeakRssBytes))
    .filter((v): v is number => v !== undefined);
  const peak = peaks.length ? Math.max(...peaks) : undefined;
  rows.push({ target: 'pgwarden worker peak RSS < 256 MiB (all pgwarden rows)', measured: peak === undefined ? 'n/a' : fmtMiB(peak), ...(peak === undefined ? {} : { met: peak < 256 * MiB }) });
  for (const op of OPERATIONS) {
    const after = ran('pgwarden') ? summarize(results, 'pgwarden', op).workerCpuMs : undefined;
    const before = ran('pgwarden-before') ? summarize(results, 'pgwarden-before', op).workerCpuMs : undefined;
    const x = after !== undefined && before !== undefined && before > 0 ? after / before : undefined;
    rows.push({
      target: `worker CPU per GB, logical ${op}, at most a third of before`,
      measured: x === undefined ? 'n/a' : `${x.toFixed(2)}× (${fmtCoreSeconds(after!, results.data.sizes.databaseBytes)} after, ${fmtCoreSeconds(before!, results.data.sizes.databaseBytes)} before)`,
      ...(x === undefined ? {} : { met: x <= 1 / 3 }),
    });
  }
  return rows;
}

function cpuRows(results: BenchResults): string[] {
  const db = results.data.sizes.databaseBytes;
  return results.tools
    .filter((t) => !t.pending && !t.error && ['pgwarden', 'pgwarden-before', 'pgwarden-pitr'].includes(t.name))
    .map((t) => {
      const cells = OPERATIONS.map((op) => summarize(results, t.name, op).workerCpuMs).map((ms) => (ms === undefined ? 'n/a' : fmtCoreSeconds(ms, db)));
      return `| ${t.label} | ${cells[0]} | ${cells[1]} |`;
    });
}
