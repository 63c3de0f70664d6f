// The benchmark report's one-table restore row (issue 21): shown beside the full restore with the table's share and
// the ratio of the times, and absent, not broken, when a results file from before it is rendered (`--render`).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Measurement } from '../../bench/context.js';
import { renderConsole, renderMarkdown, type BenchResults } from '../../bench/report.js';

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
