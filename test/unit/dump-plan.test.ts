// How a logical backup is cut into streams: schema around the data, big tables alone or in block ranges.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { planDumpStreams } from '../../activities/postgres/dump.js';
import type { TableInfo } from '../../activities/postgres/inventory.js';

const MiB = 1024 * 1024;
const table = (name: string, mib: number): TableInfo => ({ name: `public.${name}`, schema: 'public', table: name, bytes: mib * MiB, blocks: (mib * MiB) / 8192 });

test('schema first and last; big tables cut into block ranges that cover every block once', () => {
  const streams = planDumpStreams([table('orders', 500), table('users', 40), table('tiny', 1)], { splitBytes: 32 * MiB, chunkBytes: 128 * MiB, serverMajor: 15 });
  assert.equal(streams[0]!.role, 'pre-data');
  assert.equal(streams.at(-1)!.role, 'post-data');
  const orders = streams.filter((s) => s.copies?.[0]?.table.name === 'public.orders').map((s) => s.copies![0]!);
  assert.equal(orders.length, 4);
  assert.equal(orders[0]!.fromBlock, 0);
  for (let i = 1; i < orders.length; i += 1) assert.equal(orders[i]!.fromBlock, orders[i - 1]!.toBlock);
  assert.equal(orders.at(-1)!.toBlock, undefined, 'the last range is open-ended: rows in blocks added later are not lost');
  const users = streams.find((s) => s.tables.includes('public.users') && s.role === 'data')!;
  assert.deepEqual(users.copies!.map((c) => [c.table.name, c.fromBlock]), [['public.users', undefined]], 'a table under the chunk size is copied whole, by psql');
  const tiny = streams.find((s) => s.tables.includes('public.tiny'))!;
  assert.ok(tiny.copies, 'small tables are copied by psql too: no rows pass through Node');
  assert.equal(new Set(streams.map((s) => s.name)).size, streams.length, 'object names are unique');
});

test("pg_dump's data stream keeps sequences, large objects and extension tables, and no table psql copies", () => {
  const streams = planDumpStreams([table('orders', 500), table('users', 40), table('tiny', 1)], { splitBytes: 32 * MiB, chunkBytes: 128 * MiB, serverMajor: 15 });
  const rest = streams.find((s) => s.name === 'data-0000.sql')!;
  assert.equal(rest.copies, undefined);
  assert.deepEqual(rest.tables, []);
  for (const name of ['orders', 'users', 'tiny']) assert.ok(rest.args.includes(`--exclude-table-data="public"."${name}"`), `${name} is not dumped twice`);
  const copied = streams.flatMap((s) => s.copies ?? []).map((c) => c.table.name);
  assert.deepEqual([...new Set(copied)].sort(), ['public.orders', 'public.tiny', 'public.users'], 'every table is copied by exactly one plan entry');
});

test('small tables share copy streams of about the chunk size', () => {
  const many = Array.from({ length: 40 }, (_, i) => table(`t${i}`, 10));
  const streams = planDumpStreams(many, { splitBytes: 32 * MiB, chunkBytes: 128 * MiB, serverMajor: 15 });
  const groups = streams.filter((s) => s.copies);
  assert.equal(groups.length, 4, '400 MiB of small tables in groups of at most 128 MiB');
  for (const g of groups) assert.ok(g.estimatedBytes <= 128 * MiB);
  assert.equal(groups.reduce((n, g) => n + g.copies!.length, 0), 40);
});

test('more tables than one command line can exclude: small tables stay in pg_dump\'s stream', () => {
  const many = Array.from({ length: 20_000 }, (_, i) => table(`a_table_with_a_rather_long_name_${i}`, 0.01));
  const streams = planDumpStreams([table('orders', 500), ...many], { splitBytes: 32 * MiB, chunkBytes: 128 * MiB, serverMajor: 15 });
  const rest = streams.find((s) => s.name === 'data-0000.sql')!;
  assert.equal(rest.tables.length, 20_000);
  assert.deepEqual(rest.args.filter((a) => a.startsWith('--exclude-table-data')), ['--exclude-table-data="public"."orders"']);
});

test('before PostgreSQL 14 (no TID range scans) and with chunkMiB 0, big tables stay whole', () => {
  for (const plan of [{ serverMajor: 13, chunkBytes: 128 * MiB }, { serverMajor: 16, chunkBytes: 0 }]) {
    const streams = planDumpStreams([table('orders', 500)], { splitBytes: 32 * MiB, ...plan });
    assert.equal(streams.flatMap((s) => s.copies ?? []).filter((c) => c.fromBlock !== undefined).length, 0);
    assert.equal(streams.filter((s) => s.copies?.some((c) => c.table.name === 'public.orders')).length, 1);
  }
});
