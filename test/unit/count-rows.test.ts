// Row counting in plain data dumps: exact across chunk boundaries, never fooled by escaped data.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { CopyRowCounter, copyTarget } from '../../activities/pipeline/count-rows.js';

const dump = [
  '--',
  '-- PostgreSQL database dump',
  "SET client_encoding = 'UTF8';",
  'COPY public.users (id, email) FROM stdin;',
  '1\ta@example.com',
  '2\tb\\nwith escaped newline',
  '3\t\\\\.', // a value that is a backslash and a dot, escaped: not the end marker
  '\\.',
  '',
  'COPY "Weird Schema"."Order Items" ("Qty", note) FROM stdin;',
  '\\.',
  'COPY public.big (id) FROM stdin;',
  ...Array.from({ length: 1000 }, (_, i) => String(i)),
  '\\.',
  "SELECT pg_catalog.setval('public.users_id_seq', 3, true);",
  '',
].join('\n');

async function count(chunks: Buffer[]): Promise<Map<string, number>> {
  const counter = new CopyRowCounter();
  let out = 0;
  await pipeline(Readable.from(chunks), counter, new Writable({ write: (c: Buffer, _e, done) => ((out += c.length), done()) }));
  assert.equal(out, Buffer.byteLength(dump), 'the counter passes every byte through');
  return counter.rows;
}

test('counts the rows of every table in a plain dump', async () => {
  const rows = await count([Buffer.from(dump)]);
  assert.deepEqual(Object.fromEntries(rows), { 'public.users': 3, '"Weird Schema"."Order Items"': 0, 'public.big': 1000 });
});

test('gives the same counts whatever the chunk boundaries (1, 2, 3, 7 and 4096 bytes)', async () => {
  const whole = Buffer.from(dump);
  for (const size of [1, 2, 3, 7, 4096]) {
    const chunks: Buffer[] = [];
    for (let i = 0; i < whole.length; i += size) chunks.push(whole.subarray(i, i + size));
    const rows = await count(chunks);
    assert.equal(rows.get('public.users'), 3, `chunk size ${size}`);
    assert.equal(rows.get('public.big'), 1000, `chunk size ${size}`);
  }
});

test('reads table names as pg_dump quotes them', () => {
  assert.equal(copyTarget('COPY public.users (id) FROM stdin;'), 'public.users');
  assert.equal(copyTarget('COPY "My ""Odd"" Schema"."t.1" (a) FROM stdin;'), '"My ""Odd"" Schema"."t.1"');
  assert.equal(copyTarget('COPY public.t FROM stdin;'), 'public.t');
  assert.equal(copyTarget("SELECT 'COPY x FROM stdin;'"), undefined);
});
