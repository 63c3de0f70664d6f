// Restoring some tables: which entries of pg_restore's SQL belong to them, and the awk filter that keeps only
// their COPY blocks and sequence positions in a data stream shared with other tables.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execa } from 'execa';
import { copyFilterStep, postDataFor, preDataFor } from '../../activities/restore/tables.js';

const entry = (name: string, type: string, schema: string, body: string) => `--\n-- Name: ${name}; Type: ${type}; Schema: ${schema}; Owner: app\n--\n\n${body}\n\n`;
const preamble = 'SET statement_timeout = 0;\nSELECT pg_catalog.set_config(\'search_path\', \'\', false);\n\n';

const preData =
  preamble +
  entry('audit', 'SCHEMA', '-', 'CREATE SCHEMA audit;') +
  entry('mood', 'TYPE', 'public', "CREATE TYPE public.mood AS ENUM ('ok');") +
  entry('products', 'TABLE', 'public', 'CREATE TABLE public.products (\n    id integer NOT NULL\n);') +
  entry('reviews', 'TABLE', 'public', 'CREATE TABLE public.reviews (\n    id integer NOT NULL,\n    product_id integer\n);') +
  entry('reviews_id_seq', 'SEQUENCE', 'public', 'CREATE SEQUENCE public.reviews_id_seq\n    AS integer;') +
  entry('products_id_seq', 'SEQUENCE', 'public', 'CREATE SEQUENCE public.products_id_seq\n    AS integer;') +
  entry('reviews_id_seq', 'SEQUENCE OWNED BY', 'public', 'ALTER SEQUENCE public.reviews_id_seq OWNED BY public.reviews.id;') +
  entry('products_id_seq', 'SEQUENCE OWNED BY', 'public', 'ALTER SEQUENCE public.products_id_seq OWNED BY public.products.id;') +
  entry('reviews id', 'DEFAULT', 'public', "ALTER TABLE ONLY public.reviews ALTER COLUMN id SET DEFAULT nextval('public.reviews_id_seq'::regclass);") +
  entry('TABLE reviews', 'ACL', 'public', 'GRANT SELECT ON TABLE public.reviews TO reader;') +
  entry('TABLE products', 'ACL', 'public', 'GRANT SELECT ON TABLE public.products TO reader;') +
  entry('recent', 'VIEW', 'public', 'CREATE VIEW public.recent AS SELECT * FROM public.reviews;');

test('pre-data: the table, its own sequence, default and grants, and the types any column may use; not the other table, its sequence or a view', () => {
  const { sql, selection } = preDataFor(preData, ['public.reviews']);
  assert.deepEqual([...selection.sequences], ['public.reviews_id_seq']);
  assert.ok(sql.startsWith(preamble));
  for (const kept of ['CREATE TABLE public.reviews', 'CREATE SEQUENCE public.reviews_id_seq', 'OWNED BY public.reviews.id', "SET DEFAULT nextval('public.reviews_id_seq'", 'ON TABLE public.reviews TO', 'CREATE TYPE public.mood']) assert.ok(sql.includes(kept), kept);
  for (const left of ['CREATE TABLE public.products', 'products_id_seq', 'ON TABLE public.products', 'CREATE VIEW', 'CREATE SCHEMA audit']) assert.ok(!sql.includes(left), left);
});

const postData =
  entry('reviews reviews_pkey', 'CONSTRAINT', 'public', 'ALTER TABLE ONLY public.reviews\n    ADD CONSTRAINT reviews_pkey PRIMARY KEY (id);') +
  entry('products products_pkey', 'CONSTRAINT', 'public', 'ALTER TABLE ONLY public.products\n    ADD CONSTRAINT products_pkey PRIMARY KEY (id);') +
  entry('reviews_product_idx', 'INDEX', 'public', 'CREATE INDEX reviews_product_idx ON public.reviews USING btree (product_id);') +
  entry('reviews reviews_product_id_fkey', 'FK CONSTRAINT', 'public', 'ALTER TABLE ONLY public.reviews\n    ADD CONSTRAINT reviews_product_id_fkey FOREIGN KEY (product_id) REFERENCES public.products(id);') +
  entry('reviews reviews_self_fkey', 'FK CONSTRAINT', 'public', 'ALTER TABLE ONLY public.reviews\n    ADD CONSTRAINT reviews_self_fkey FOREIGN KEY (id) REFERENCES public.reviews(id);') +
  entry('reviews audit', 'TRIGGER', 'public', 'CREATE TRIGGER audit AFTER INSERT ON public.reviews FOR EACH ROW EXECUTE FUNCTION public.log();');

test('post-data: its indexes, constraints and foreign keys among restored tables; a foreign key to a table left out is listed', () => {
  const { sql, leftOut } = postDataFor(postData, { tables: new Set(['public.reviews']), sequences: new Set() });
  assert.deepEqual(leftOut, ['public.reviews: foreign key reviews_product_id_fkey → public.products (not restored)']);
  for (const kept of ['reviews_pkey', 'reviews_product_idx', 'reviews_self_fkey']) assert.ok(sql.includes(kept), kept);
  for (const left of ['products_pkey', 'ADD CONSTRAINT reviews_product_id_fkey', 'CREATE TRIGGER']) assert.ok(!sql.includes(left), left);
});

test('the data filter passes the chosen tables\' COPY blocks and sequence positions, and nothing of the others', async () => {
  const stream = [
    'SET client_encoding = \'UTF8\';',
    'COPY public.products (id) FROM stdin;',
    '1',
    '2',
    '\\.',
    'COPY "Weird Schema"."Order Items" (id) FROM stdin;',
    '7',
    '\\.',
    "SELECT pg_catalog.setval('public.products_id_seq', 2, true);",
    "SELECT pg_catalog.setval('\"Weird Schema\".\"Order Items_id_seq\"', 7, true);",
    '',
  ].join('\n');
  const step = copyFilterStep({ tables: new Set(['"Weird Schema"."Order Items"']), sequences: new Set(['"Weird Schema"."Order Items_id_seq"']) });
  const out = await execa(step.command, step.args, { input: stream, env: step.env });
  assert.equal(out.stdout, ['SET client_encoding = \'UTF8\';', 'COPY "Weird Schema"."Order Items" (id) FROM stdin;', '7', '\\.', "SELECT pg_catalog.setval('\"Weird Schema\".\"Order Items_id_seq\"', 7, true);"].join('\n'));
});
