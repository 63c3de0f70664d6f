// Test databases with the types that break naive dumps, and a fingerprint of everything a restore must bring back.
import { createHash } from 'node:crypto';
import { execa } from 'execa';
import pg from 'pg';
import { serverBinDir } from '../../activities/postgres/binaries.js';
import { libpqEnv, pgEndpoint } from '../../activities/postgres/connection.js';

/** Schema and data: bytea, jsonb, arrays, timestamptz, large text, quoted names, a sequence, a view, a function, … */
export const KITCHEN_SINK_SQL = `
CREATE EXTENSION IF NOT EXISTS pgcrypto;
CREATE SCHEMA "Weird Schema";
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE TABLE kitchen_sink (
  id          serial PRIMARY KEY,
  raw         bytea,
  doc         jsonb,
  numbers     int[],
  words       text[],
  at          timestamptz,
  big         text,
  exact       numeric(30, 10),
  approx      float8,
  span        interval,
  uid         uuid DEFAULT gen_random_uuid(),
  feeling     mood,
  note        text,
  CONSTRAINT note_not_secret CHECK (note IS DISTINCT FROM 'secret')
);
INSERT INTO kitchen_sink (raw, doc, numbers, words, at, big, exact, approx, span, feeling, note)
SELECT decode(md5(g::text) || '00ff5c0a0d', 'hex'),
       jsonb_build_object('n', g, 'nested', jsonb_build_object('list', jsonb_build_array(g, 'two', null, true)), 'unicode', 'Grüße 🐘'),
       ARRAY[g, g * 2, NULL],
       ARRAY['a b', 'quote"d', 'back\\slash', NULL, '{braces}'],
       timestamptz '2024-02-29 23:59:59.999999+05:30' + g * interval '1 hour',
       CASE WHEN g % 10 = 0 THEN repeat(md5(g::text), 40000) ELSE repeat('x', g) END,
       g / 7.0, g * 1.1e-5, g * interval '1 minute 3 seconds',
       (ARRAY['sad','ok','happy']::mood[])[1 + g % 3],
       CASE g % 6 WHEN 0 THEN NULL WHEN 1 THEN '' WHEN 2 THEN E'line1\\nline2\\ttab' WHEN 3 THEN E'\\\\.' WHEN 4 THEN E'\\\\.\\n\\\\.' ELSE 'plain' END
  FROM generate_series(1, 300) g;
CREATE TABLE "Weird Schema"."Order Items" ("Qty" int NOT NULL, "select" text, "ümlaut" text);
INSERT INTO "Weird Schema"."Order Items" SELECT g, 'kw ' || g, 'ü' || g FROM generate_series(1, 50) g;
CREATE TABLE empty_table (id int PRIMARY KEY, v text);
CREATE UNLOGGED TABLE scratch (k text PRIMARY KEY, v int);
INSERT INTO scratch SELECT 'k' || g, g FROM generate_series(1, 20) g;
CREATE TABLE events (id bigint GENERATED ALWAYS AS IDENTITY, happened date NOT NULL, what text) PARTITION BY RANGE (happened);
CREATE TABLE events_2024 PARTITION OF events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE TABLE events_2025 PARTITION OF events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
INSERT INTO events (happened, what) SELECT date '2024-06-01' + g, 'event ' || g FROM generate_series(1, 400) g;
CREATE TABLE big_rows (id bigserial PRIMARY KEY, payload text NOT NULL, ref int REFERENCES kitchen_sink (id));
INSERT INTO big_rows (payload, ref) SELECT md5(g::text) || repeat(chr(65 + g % 26), 200), 1 + g % 300 FROM generate_series(1, 20000) g;
CREATE INDEX big_rows_ref_idx ON big_rows (ref);
CREATE INDEX big_rows_payload_prefix_idx ON big_rows (left(payload, 8)); -- an expression index: statistics of its own
CREATE SEQUENCE standalone_seq START 100;
SELECT setval('standalone_seq', 4242);
CREATE VIEW sink_summary AS SELECT feeling, count(*) AS n FROM kitchen_sink GROUP BY feeling;
CREATE MATERIALIZED VIEW sink_totals AS SELECT count(*) AS n, sum(id) AS s FROM kitchen_sink;
CREATE FUNCTION shout(t text) RETURNS text LANGUAGE sql IMMUTABLE AS $$ SELECT upper(t) || '!' $$;
CREATE FUNCTION touch_note() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.note := coalesce(NEW.note, 'touched'); RETURN NEW; END $$;
CREATE TRIGGER kitchen_sink_touch BEFORE INSERT ON kitchen_sink FOR EACH ROW EXECUTE FUNCTION touch_note();
COMMENT ON TABLE kitchen_sink IS 'every type that breaks naive dumps';
SELECT lo_from_bytea(0, '\\xdeadbeef00');
`;

export interface DataFingerprint {
  tables: Record<string, string>; // qualified table -> md5 of its rows in order
  sequences: Record<string, string>; // qualified sequence -> "last_value/is_called"
  largeObjects: string; // md5 over every large object's bytes
  schema: string; // md5 of pg_dump --schema-only, ownership and comments about the dump removed
}

/** Everything a restore must bring back, reduced to comparable strings. */
export async function fingerprint(url: string): Promise<DataFingerprint> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const tables: Record<string, string> = {};
    const list = await client.query<{ name: string }>(
      `SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname) AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r', 'm') AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%' ORDER BY 1`,
    );
    for (const { name } of list.rows) {
      const { rows } = await client.query<{ h: string | null; n: string }>(`SELECT md5(string_agg(t::text, E'\\n' ORDER BY t::text)) AS h, count(*) AS n FROM ONLY ${name} t`);
      tables[name] = `${rows[0]!.n}:${rows[0]!.h ?? 'empty'}`;
    }
    const sequences: Record<string, string> = {};
    const seqs = await client.query<{ name: string }>(
      `SELECT quote_ident(schemaname) || '.' || quote_ident(sequencename) AS name FROM pg_sequences ORDER BY 1`,
    );
    for (const { name } of seqs.rows) {
      const { rows } = await client.query<{ last_value: string; is_called: boolean }>(`SELECT last_value, is_called FROM ${name}`);
      sequences[name] = `${rows[0]!.last_value}/${rows[0]!.is_called}`;
    }
    const lo = await client.query<{ h: string | null }>(`SELECT md5(string_agg(encode(lo_get(oid), 'hex'), ',' ORDER BY oid)) AS h FROM pg_largeobject_metadata`);
    const dump = await execa(`${serverBinDir()}/pg_dump`, ['--schema-only', '--no-owner', '--no-privileges'], { env: libpqEnv(pgEndpoint(url, 'fingerprint')) });
    const schema = createHash('md5')
      .update(dump.stdout.split('\n').filter((line) => !line.startsWith('--') && !/^\\(un)?restrict /.test(line)).join('\n'))
      .digest('hex');
    return { tables, sequences, largeObjects: lo.rows[0]!.h ?? 'none', schema };
  } finally {
    await client.end();
  }
}
