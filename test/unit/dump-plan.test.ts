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
  const orders = streams.filter((s) => s.chunk?.table.name === 'public.orders');
  assert.equal(orders.length, 4);
  assert.equal(orders[0]!.chunk!.fromBlock, 0);
  for (let i = 1; i < orders.length; i += 1) assert.equal(orders[i]!.chunk!.fromBlock, orders[i - 1]!.chunk!.toBlock);
  assert.equal(orders.at(-1)!.chunk!.toBlock, undefined, 'the last range is open-ended: rows in blocks added later are not lost');
  const users = streams.find((s) => s.tables.includes('public.users') && s.role === 'data')!;
  assert.equal(users.chunk, undefined, 'a table under the chunk size is one pg_dump stream');
  assert.ok(users.args.includes('--table="public"."users"'));
  const rest = streams.find((s) => s.name === 'data-0000.sql')!;
  assert.deepEqual(rest.tables, ['public.tiny']);
  assert.ok(rest.args.includes('--exclude-table-data="public"."orders"'), 'big tables are not dumped twice');
  assert.equal(new Set(streams.map((s) => s.name)).size, streams.length, 'object names are unique');
});

test('before PostgreSQL 14 (no TID range scans) and with chunkMiB 0, big tables stay whole', () => {
  for (const plan of [{ serverMajor: 13, chunkBytes: 128 * MiB }, { serverMajor: 16, chunkBytes: 0 }]) {
    const streams = planDumpStreams([table('orders', 500)], { splitBytes: 32 * MiB, ...plan });
    assert.equal(streams.filter((s) => s.chunk).length, 0);
    assert.equal(streams.filter((s) => s.tables.includes('public.orders')).length, 1);
  }
});
