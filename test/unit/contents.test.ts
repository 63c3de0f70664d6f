// What backups hold, compared: the rows-dropped rule's judgement and settings, and table definitions read from
// the SQL pg_restore prints of a backup's schema objects.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { alertThresholds } from '../../config/alerts.js';
import { parseConfig } from '../../config/load.js';
import { parseDefinitions } from '../../activities/catalog/contents.js';
import { diffDefinitions, judgeComparison, rowsDroppedObservation, type BackupTables } from '../../domain/contents.js';
import { PgwardenError } from '../../domain/errors.js';

const before: BackupTables = { id: 'A', kind: 'daily', finishedAt: '2026-12-01T02:00:00Z', tables: { 'public.orders': 1000, 'public.events': 10, 'public.cache': 50, 'public.empty': 0, 'public.users': 100 } };
const after: BackupTables = { id: 'B', kind: 'daily', finishedAt: '2026-12-02T02:00:00Z', tables: { 'public.orders': 500, 'public.cache': 0, 'public.empty': 0, 'public.users': 49, 'public.new': 5 } };

test('a table fires when it lost more than the allowed share, or vanished; exactly the share, ignored tables, empty ones and new ones do not', () => {
  const judged = judgeComparison('shop', before, after, { maxLoss: 0.5, ignore: ['public.ca*'] }, '2026-12-02T02:05:00Z');
  assert.deepEqual(judged.dropped.map((d) => [d.table, d.rowsBefore, d.rowsAfter, d.lost]), [
    ['public.events', 10, undefined, 1],
    ['public.users', 100, 49, 0.51],
  ]);
  assert.equal(judged.judged, 4, 'orders, events, empty, users: the cache is ignored, new is not in A');
  assert.equal(judged.maxLost, 1);
  const observation = rowsDroppedObservation(judged, '2026-12-02T02:05:00Z')!;
  assert.equal(observation.firing, true);
  assert.match(observation.summary, /^2 table\(s\) lost more than 50 % .* between daily backups A and B: public\.events: 10 rows in A, not in B \(the table is gone\); public\.users: 100 rows in A, 49 in B \(lost 51 %\)/);
});

test('the first backup of a kind says nothing either way; a clean comparison clears', () => {
  const first = judgeComparison('shop', undefined, after, { maxLoss: 0.5, ignore: [] }, '2026-12-02T02:05:00Z');
  assert.equal(rowsDroppedObservation(first, '2026-12-02T02:05:00Z'), undefined);
  const clean = judgeComparison('shop', after, after, { maxLoss: 0.5, ignore: [] }, '2026-12-02T02:05:00Z');
  assert.equal(rowsDroppedObservation(clean, '2026-12-02T02:05:00Z')!.firing, false);
});

test('settings: on at 50 % by default; a share as "30%" or 0.3; per database over global; false turns it off; nonsense is refused', () => {
  const base = { repositories: { local: { type: 'fs', path: '/var/backups/pgwarden' } } };
  const config = parseConfig({
    ...base,
    alerts: { rowsDropped: { maxLoss: '30%', ignore: ['public.queue'] } },
    databases: {
      plain: { connection: { env: 'A_URL' } },
      own: { connection: { env: 'B_URL' }, alerts: { rowsDropped: { maxLoss: 0.9 } } },
      off: { connection: { env: 'C_URL' }, alerts: { rowsDropped: false } },
    },
  });
  assert.deepEqual(alertThresholds(config, 'plain').rowsDropped, { maxLoss: 0.3, ignore: ['public.queue'] });
  assert.deepEqual(alertThresholds(config, 'own').rowsDropped, { maxLoss: 0.9, ignore: ['public.queue'] });
  assert.equal(alertThresholds(config, 'off').rowsDropped, undefined);
  const defaults = parseConfig({ ...base, databases: { d: { connection: { env: 'A_URL' } } } });
  assert.deepEqual(alertThresholds(defaults, 'd').rowsDropped, { maxLoss: 0.5, ignore: [] });
  assert.equal(alertThresholds(defaults, 'd').severity['rows-dropped'], 'SEV-2');
  assert.throws(() => parseConfig({ ...base, databases: { d: { connection: { env: 'A_URL' }, alerts: { rowsDropped: { maxLoss: '150%' } } } } }), (e: unknown) => e instanceof PgwardenError && /between 0 and 100 %/.test(e.message));
});

// As pg_restore --file=- prints a custom-format archive (PostgreSQL 15), trimmed.
const sql = (extra: { column?: string; index?: boolean }) => `
--
-- Name: products; Type: TABLE; Schema: public; Owner: app
--

CREATE TABLE public.products (
    id integer NOT NULL,
    name text NOT NULL,
    price_cents integer${extra.column ? `,\n    ${extra.column}` : ''},
    CONSTRAINT products_price_cents_check CHECK ((price_cents >= 0))
);


ALTER TABLE public.products OWNER TO app;

--
-- Name: products id; Type: DEFAULT; Schema: public; Owner: app
--

ALTER TABLE ONLY public.products ALTER COLUMN id SET DEFAULT nextval('public.products_id_seq'::regclass);


--
-- Name: products products_pkey; Type: CONSTRAINT; Schema: public; Owner: app
--

ALTER TABLE ONLY public.products
    ADD CONSTRAINT products_pkey PRIMARY KEY (id);

${extra.index ? `
--
-- Name: products_name_idx; Type: INDEX; Schema: public; Owner: app
--

CREATE INDEX products_name_idx ON public.products USING btree (name);
` : ''}
--
-- Name: reviews reviews_product_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: app
--

ALTER TABLE ONLY public.reviews
    ADD CONSTRAINT reviews_product_id_fkey FOREIGN KEY (product_id) REFERENCES public.products(id);
`;

test('definitions: columns (with defaults), check, primary and foreign keys, indexes; a column added last changes only the columns', () => {
  const a = parseDefinitions(sql({}));
  assert.deepEqual(Object.keys(a['public.products']!.constraints).sort(), ['products_pkey', 'products_price_cents_check']);
  assert.match(a['public.products']!.table, /SET DEFAULT nextval/);
  assert.equal(a['public.reviews']!.constraints.reviews_product_id_fkey, 'ALTER TABLE public.reviews ADD CONSTRAINT reviews_product_id_fkey FOREIGN KEY (product_id) REFERENCES public.products(id);');
  const b = parseDefinitions(sql({ column: 'sku text', index: true }));
  assert.deepEqual(b['public.products']!.indexes, { products_name_idx: 'CREATE INDEX products_name_idx ON public.products USING btree (name);' });
  const changes = diffDefinitions(a, b);
  assert.deepEqual(changes.map((c) => [c.table, c.changes]), [['public.products', ['columns', 'index products_name_idx added']]]);
  assert.deepEqual(diffDefinitions(b, b), []);
});
