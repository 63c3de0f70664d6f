// The benchmark report's one-table restore row (issue 21): shown beside the full restore with the table's share and
// the ratio of the times, and absent, not broken, when a results file from before it is rendered (`--render`).
// The PITR restore against pgBackRest's (issue 22): time to writable against time to writable, the whole time beside
// it; wall against wall, said so, for a results file from before the time to writable was measured.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Measurement } from '../../bench/context.js';
import { renderConsole, renderMarkdown, targetRows, type BenchResults } from '../../bench/report.js';
import { pitrPhases, recoveryMilestones } from '../../bench/tools/pgwarden-pitr.js';

// A real results file, written before the table restore was measured (a dated one: latest.json is rewritten by every run).
const OLD_RESULTS = fileURLToPath(new URL('../../../bench/results/2026-11-26T041617Z.json', import.meta.url));
const oldResults = () => JSON.parse(readFileSync(OLD_RESULTS, 'utf8')) as BenchResults;

const tableRestore = (round: number, wallMs: number): Measurement => ({
  tool: 'pgwarden',
  operation: 'table-restore',
  round,
  wallMs,
  phases: { 'restore activity': wallMs - 100, 'workflow (start to verified)': wallMs - 50 },
  workerPeakRssBytes: 100 * 1024 * 1024,
  treePeakRssBytes: 150 * 1024 * 1024,
  notes: { table: 'public.users', tableBytes: 10_000_000, tableShare: 0.0104, rows: 38_994, tables: 1 },
});

test('a results file without a table restore renders as before, with no restore --table row', () => {
  const results = oldResults();
  assert.ok(!results.measurements.some((m) => m.operation === 'table-restore'), 'the fixture predates the table restore');
  const markdown = renderMarkdown(results);
  assert.doesNotMatch(markdown, /restore --table/);
  assert.match(markdown, /\| pgwarden logical \| restore \| /);
  assert.doesNotMatch(renderConsole(results), /restore --table/);
});

test('the table restore is a row right after the full restore, with its share and its ratio to the full restore', () => {
  const results = oldResults();
  const fullRestores = results.measurements.filter((m) => m.tool === 'pgwarden' && m.operation === 'restore');
  assert.ok(fullRestores.length > 0);
  // Half of each round's full restore: the median ratio is 0.50× whatever the fixture's times are.
  results.measurements.push(...fullRestores.map((m) => tableRestore(m.round, m.wallMs / 2)));
  for (const rendered of [renderMarkdown(results), renderConsole(results)]) {
    const lines = rendered.split('\n');
    const row = lines.findIndex((l) => l.startsWith('| pgwarden logical | restore --table public.users (1.0 % of the database) | '));
    assert.ok(row > 0, 'a restore --table row in the main table');
    assert.match(lines[row - 1]!, /^\| pgwarden logical \| restore \| /, 'right after the full restore');
    assert.match(lines[row]!, / \(0\.50× the full restore\) \| /);
    assert.match(rendered, /\| pgwarden logical \| restore --table public\.users \(1\.0 % of the database\) \| restore activity \| /, 'its phases');
  }
});

test('a table restore whose notes lack the share still names the table, without inventing a share', () => {
  const results = oldResults();
  const row = tableRestore(1, 1000);
  delete row.notes!.tableShare;
  results.measurements.push(row);
  assert.match(renderMarkdown(results), /\| pgwarden logical \| restore --table public\.users \| /);
});

/** The restores of both physical tools, with a time to writable as this build's tools record it. */
function withWritable(results: BenchResults, times: { pgbackrest: number; pitrWall: number; pitrWritable: number }): BenchResults {
  for (const m of results.measurements.filter((x) => x.operation === 'restore')) {
    if (m.tool === 'pgbackrest') Object.assign(m, { wallMs: times.pgbackrest, writableMs: times.pgbackrest });
    if (m.tool === 'pgwarden-pitr') {
      const pitr = { baseRestoreMs: 1000, recoveryMs: 500, promotedMs: 300, verifyMs: 40 };
      Object.assign(m, { wallMs: times.pitrWall, writableMs: times.pitrWritable, phases: pitrPhases(pitr, times.pitrWall, times.pitrWritable) });
    }
  }
  return results;
}

test('a results file without a time to writable compares the PITR restore wall against wall, and says so', () => {
  const results = oldResults();
  assert.ok(results.measurements.some((m) => m.tool === 'pgwarden-pitr' && m.operation === 'restore'), 'the fixture has PITR restores');
  assert.ok(!results.measurements.some((m) => m.writableMs !== undefined), 'the fixture predates the time to writable');
  const row = targetRows(results).find((t) => /PITR/.test(t.target))!;
  assert.equal(row.target, 'PITR restore ÷ pgBackRest restore ≤ 1.0×');
  assert.equal(row.measured, '1.73× (wall times: no time to writable in this results file)');
  assert.equal(row.met, false);
  const markdown = renderMarkdown(results);
  assert.doesNotMatch(markdown, /writable after/);
  assert.match(markdown, /\| pgwarden base backup \+ PITR ÷ pgBackRest \| 0\.78× \| 1\.73× \| 1\.03× \|/);
  assert.match(markdown, /\| pgwarden base backup \+ PITR \| restore \| WAL replay until promoted and verified \| 1\.04 s \|/, 'its old phases as they were');
});

test('the PITR restore is compared to writable with pgBackRest to writable, its whole time beside it', () => {
  const results = withWritable(oldResults(), { pgbackrest: 2000, pitrWall: 4000, pitrWritable: 1800 });
  const row = targetRows(results).find((t) => /PITR/.test(t.target))!;
  assert.deepEqual(row, { target: 'PITR restore to writable ÷ pgBackRest restore to writable ≤ 1.0×', measured: '0.90× (2.00× to the end, verified)', met: true });
  for (const rendered of [renderMarkdown(results), renderConsole(results)]) {
    assert.match(rendered, /\| pgwarden base backup \+ PITR ÷ pgBackRest \| 0\.78× \| 0\.90× to writable \(2\.00× to the end, verified\) \| 1\.03× \|/);
    assert.match(rendered, /\| pgwarden base backup \+ PITR \| restore \| 4\.00 s \(writable after 1\.80 s\) \| /, 'the main table gives both');
    assert.match(rendered, /\| pgBackRest \| restore \| 2\.00 s \| /, "pgBackRest's wall time is its time to writable: nothing added");
    assert.doesNotMatch(rendered, /pgwarden logical ÷ pgBackRest \| [^|]+ \| [^|]*writable/, 'a logical restore has no time to writable');
  }
});

test("the PITR restore's phases: writable and verified apart, in order, adding up to the wall time", () => {
  const phases = pitrPhases({ baseRestoreMs: 1000, recoveryMs: 500, promotedMs: 300, verifyMs: 40 }, 4000, 1800);
  assert.deepEqual(Object.keys(phases), [
    'workflow start, plan, lease, recovery settings (the rest until writable)',
    'base backup into a new data directory',
    'server started, WAL replay until promoted (writable)',
    "after writable: settled as a primary, restarted without recovery's secrets",
    'after writable: verified (every database opened)',
    'after writable: lease released, the result to the client',
  ]);
  assert.deepEqual(Object.values(phases), [500, 1000, 300, 200, 40, 1960]);
  assert.equal(Object.values(phases).reduce((a, b) => a + b, 0), 4000);
  // A worker from before the timing fields: the two phases it had, and no time to writable.
  assert.deepEqual(pitrPhases({ baseRestoreMs: 1000, recoveryMs: 500 }, 4000, undefined), {
    'base backup into a new data directory': 1000,
    'WAL replay until promoted, settled as a primary': 500,
  });
});

test('a time to writable missing from one run leaves the comparison wall against wall', () => {
  const results = withWritable(oldResults(), { pgbackrest: 2000, pitrWall: 4000, pitrWritable: 1800 });
  delete results.measurements.find((m) => m.tool === 'pgwarden-pitr' && m.operation === 'restore')!.writableMs;
  assert.equal(targetRows(results).find((t) => /PITR/.test(t.target))!.target, 'PITR restore ÷ pgBackRest restore ≤ 1.0×');
});

test("the restored server's log in one line: its milestones in seconds, and what restore_command brought after redo", () => {
  // From a benchmark PITR (100 MB, one segment to replay), shortened.
  const log = [
    '2026-12-07 16:44:40.688 UTC [29038] LOG:  starting PostgreSQL 15.18 (Debian 15.18-0+deb12u1) on x86_64-pc-linux-gnu',
    '2026-12-07 16:44:40.781 UTC [29043] FATAL:  the database system is starting up',
    '2026-12-07 16:44:40.917 UTC [29041] LOG:  starting archive recovery',
    '2026-12-07 16:44:40.989 UTC [29041] LOG:  restored log file "00000001000000000000000C" from archive',
    '2026-12-07 16:44:40.998 UTC [29041] LOG:  redo starts at 0/C000028',
    '2026-12-07 16:44:40.999 UTC [29041] LOG:  consistent recovery state reached at 0/C000100',
    '2026-12-07 16:44:41.000 UTC [29041] LOG:  redo done at 0/C000100 system usage: CPU: user: 0.00 s, system: 0.00 s, elapsed: 0.00 s',
    '2026-12-07 16:44:41.379 UTC [29041] LOG:  restored log file "00000001000000000000000C" from archive',
    '2026-12-07 16:44:41.421 UTC [29041] LOG:  selected new timeline ID: 2',
    '2026-12-07 16:44:41.918 UTC [29041] LOG:  archive recovery complete',
    '2026-12-07 16:44:41.945 UTC [29039] LOG:  checkpoint starting: end-of-recovery immediate wait',
    '2026-12-07 16:44:41.992 UTC [29038] LOG:  database system is ready to accept connections',
    '2026-12-07 16:44:42.274 UTC [29038] LOG:  received fast shutdown request',
    '2026-12-07 16:44:42.420 UTC [29192] LOG:  starting PostgreSQL 15.18 (Debian 15.18-0+deb12u1) on x86_64-pc-linux-gnu',
    '2026-12-07 16:44:42.430 UTC [29192] LOG:  database system is ready to accept connections',
  ].join('\n');
  assert.equal(
    recoveryMilestones(log),
    'archive recovery starts 0.229, redo starts 0.310, consistent 0.311, redo done 0.312, new timeline selected 0.733, archive recovery complete 1.230, ' +
      'end-of-recovery checkpoint 1.257, accepts connections (writable) 1.304, 2 restored by restore_command (1 after redo done, the last at 0.691)',
  );
  assert.equal(recoveryMilestones('no server here'), undefined);
});
