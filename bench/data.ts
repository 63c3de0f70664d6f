// The benchmark's data: the Cartly schema (client/demo/cartly.ts) filled with data that compresses like a real
// shop's, about 2:1 with zstd -3 on a plain pg_dump. The demo's generator compresses ~3.6:1 and pgbench's
// blank filler ~100:1, both of which flatter any compressing tool; here identifiers, tokens, hashes, prices
// and timestamps are random, and free text is drawn from vocabularies large enough not to repeat in a window.
// Deterministic: setseed() fixes random() per statement.
import { CARTLY_SCHEMA, cartlyScale } from '../client/demo/cartly.js';

export { CARTLY_SCHEMA as BENCH_SCHEMA };

export const BENCH_TABLES = ['companies', 'users', 'stores', 'products', 'orders', 'audit_log'] as const;

/**
 * The table the benchmark restores alone (`restore --table`, issue 21), about 1 % of the database: users (one per 10
 * orders) with its two indexes, measured at 60 MB, is 1.0 % to 1.2 % of pg_database_size (three loads) and about
 * 1.2 % of the user tables' pg_total_relation_size, which grow together, so about 1.2 % at 1 GB where the catalogs
 * weigh less. The next closest are products (4.8 %) and stores (0.1 %). The report prints the share each run measured.
 */
export const BENCH_TABLE_RESTORE = 'public.users';

const WORDS = [
  'alpha', 'berlin', 'cart', 'delta', 'euro', 'fresh', 'garden', 'harbor', 'iris', 'jade', 'kiosk', 'lumen', 'market', 'nord',
  'orbit', 'prime', 'quartz', 'rhein', 'solar', 'terra', 'umber', 'vista', 'willow', 'xenon', 'yellow', 'zephyr', 'amber',
  'basalt', 'cedar', 'dune', 'ember', 'fjord', 'granite', 'hazel', 'indigo', 'juniper', 'kelp', 'linen', 'maple', 'nectar',
  'oak', 'pepper', 'quill', 'raven', 'sage', 'thistle', 'ultra', 'velvet', 'walnut', 'yarrow', 'zinc', 'acorn', 'birch',
  'copper', 'daisy', 'elm', 'fern', 'ginger', 'heron', 'ivory', 'jasper', 'kestrel', 'lotus', 'moss', 'nickel', 'olive',
];
const FIRST = ['Anna', 'Ben', 'Clara', 'David', 'Emma', 'Felix', 'Greta', 'Hannah', 'Ilias', 'Jonas', 'Klara', 'Lukas', 'Mia',
  'Noah', 'Olga', 'Paul', 'Quentin', 'Rosa', 'Sofia', 'Tim', 'Ute', 'Viktor', 'Wiebke', 'Yusuf', 'Zoe', 'Aylin', 'Bernd', 'Chiara',
  'Deniz', 'Elif', 'Finn', 'Gül', 'Henrik', 'Ida', 'Jan', 'Karim', 'Lea', 'Milan', 'Nele', 'Oskar'];
const LAST = ['Müller', 'Schmidt', 'Schneider', 'Fischer', 'Weber', 'Meyer', 'Wagner', 'Becker', 'Schulz', 'Hoffmann', 'Koch',
  'Richter', 'Klein', 'Wolf', 'Schröder', 'Neumann', 'Schwarz', 'Braun', 'Zimmermann', 'Krüger', 'Hartmann', 'Lange', 'Werner',
  'Krause', 'Lehmann', 'Köhler', 'Maier', 'Huber', 'Kaya', 'Yilmaz', 'Nowak', 'Kowalski', 'Jansen', 'de Vries', 'Rossi', 'Ferrari'];
const CITIES = ['Berlin', 'Hamburg', 'München', 'Köln', 'Frankfurt', 'Stuttgart', 'Düsseldorf', 'Leipzig', 'Dortmund', 'Essen',
  'Bremen', 'Dresden', 'Hannover', 'Nürnberg', 'Wien', 'Graz', 'Linz', 'Zürich', 'Basel', 'Bern', 'Amsterdam', 'Rotterdam', 'Utrecht'];
const AGENTS = ['Chrome', 'Safari', 'Firefox', 'Edge', 'cartly-android', 'cartly-ios'];

const sqlArray = (values: readonly string[]) => `ARRAY[${values.map((v) => `'${v.replace(/'/g, "''")}'`).join(',')}]`;
/** A random element of `values`. */
const pick = (values: readonly string[]) => `(${sqlArray(values)})[1 + floor(random() * ${values.length})::int]`;
/** `n` random words. */
const words = (n: number) => Array.from({ length: n }, () => pick(WORDS)).join(` || ' ' || `);
/** 32 random hex digits. */
const hex = () => `md5(random()::text)`;
/** A random token in base64url letters from `bytes` random bytes (at most 32): session ids, signatures, references. */
const token = (bytes: number) =>
  bytes <= 16
    ? `translate(rtrim(encode(substr(decode(md5(random()::text), 'hex'), 1, ${bytes}), 'base64'), '='), '+/', '-_')`
    : `translate(rtrim(encode(substr(decode(md5(random()::text) || md5(random()::text), 'hex'), 1, ${bytes}), 'base64'), '='), '+/', '-_')`;
/** About `chars` letters of random pseudo-words (free text that does not repeat: names, comments). */
const pseudoText = (chars: number) =>
  `regexp_replace(lower(${token(Math.ceil((chars * 3) / 4))}), '[-_0-9]', ' ', 'g')`;
/** A JSON web token: a constant header, a random-looking claims part and an HMAC signature. */
const jwt = () => `'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.' || ${token(32)} || ${token(30)} || '.' || ${token(32)}`;
const money = (max: number) => `floor(random() * ${max})::bigint`;

/**
 * INSERT … SELECT statements that fill BENCH_SCHEMA; `orders` sets the scale (see DATABASE_BYTES_PER_ORDER in
 * generate.ts), `chunks` how many statements each large table is split into. The
 * statements of a group may run at once on separate connections; the groups must run in order (foreign keys).
 */
export function benchDataStatements(orders: number, chunks = 1): string[][] {
  const { orders: n, companies, users, stores, products, audit } = cartlyScale(orders, 1000);
  const seeded = (seed: number, sql: string) => `SELECT setseed(${(seed % 1000) / 1000}); ${sql}`;
  const ranges = (total: number) => {
    const parts = Math.max(1, Math.min(chunks, Math.floor(total / 1000)));
    return Array.from({ length: parts }, (_, i) => [Math.floor((total * i) / parts) + 1, Math.floor((total * (i + 1)) / parts)] as const);
  };
  const first: string[] = [
    seeded(1, `INSERT INTO companies (id, name, country, vat_id, created_at)
       SELECT g, initcap(${words(2)}) || ' ' || ${pick(['GmbH', 'AG', 'KG', 'e.K.', 'B.V.', 'SARL', 'GmbH & Co. KG'])},
              (ARRAY['DE','AT','CH','NL','FR'])[1 + g % 5], 'DE' || (100000000 + floor(random() * 899999999))::bigint,
              timestamptz '2018-01-01' + random() * interval '2000 days'
         FROM generate_series(1, ${companies}) g`),
  ];
  const second: string[] = [
    seeded(2, `INSERT INTO stores (id, company_id, name, city, opened_on)
       SELECT g, 1 + floor(random() * ${companies})::int, initcap(${words(1)}) || ' ' || initcap(${words(1)}) || ' ' || ${pick(['Store', 'Shop', 'Outlet', 'Markt', 'Laden'])},
              ${pick(CITIES)}, date '2019-01-01' + floor(random() * 2000)::int
         FROM generate_series(1, ${stores}) g`),
    ...ranges(users).map(([from, to], i) =>
      seeded(10 + i, `INSERT INTO users (id, company_id, email, full_name, password_hash, created_at, last_login)
       SELECT g, 1 + floor(random() * ${companies})::int,
              lower(${pick(FIRST)}) || '.' || ${token(4)} || g || '@' || ${pick(['gmail.com', 'web.de', 'gmx.de', 'outlook.com', 'icloud.com', 't-online.de', 'posteo.de'])},
              ${pick(FIRST)} || ' ' || ${pick(LAST)},
              '$2b$12$' || ${token(16)} || ${token(16)} || ${token(6)},
              timestamptz '2021-01-01' + random() * interval '1000 days',
              CASE WHEN random() < 0.8 THEN timestamptz '2024-01-01' + random() * interval '600 days' END
         FROM generate_series(${from}, ${to}) g`),
    ),
  ];
  const item = () =>
    `jsonb_build_object('sku', 'SKU-' || lpad((1 + floor(random() * ${products}))::text, 9, '0'), 'qty', 1 + floor(random() * 4)::int, ` +
    `'price_cents', floor(random() * 20000)::int, 'discount', round((random() * 0.3)::numeric, 3))`;
  const third: string[] = [
    ...ranges(products).map(([from, to], i) =>
      seeded(100 + i, `INSERT INTO products (id, store_id, sku, title, description, price_cents, attributes, tags)
       SELECT g, 1 + floor(random() * ${stores})::int, 'SKU-' || lpad(g::text, 9, '0'),
              initcap(${words(2)}) || ' ' || floor(random() * 1000)::int,
              initcap(${words(6)}) || '. ' || initcap(${words(5)}) || ', ' || floor(random() * 500)::int || ' g. Art.-Nr. ' || ${token(9)} || '. ' || ${hex()},
              floor(random() * 100000)::int,
              jsonb_build_object('color', ${pick(WORDS)}, 'weight_g', floor(random() * 5000)::int, 'ean', (4000000000000 + floor(random() * 999999999999))::bigint::text,
                                 'rating', round((1 + random() * 4)::numeric, 2), 'stock', floor(random() * 900)::int),
              ARRAY[${pick(WORDS)}, ${pick(WORDS)}]
         FROM generate_series(${from}, ${to}) g`),
    ),
    ...ranges(n).map(([from, to], i) =>
      seeded(200 + i, `INSERT INTO orders (id, user_id, store_id, status, total_cents, currency, items, shipping_address, created_at, updated_at)
       SELECT g, 1 + floor(random() * ${users})::bigint, 1 + floor(random() * ${stores})::bigint,
              (ARRAY['new','paid','shipped','delivered','cancelled','refunded'])[1 + floor(random() * 6)::int],
              ${money(50000)}, (ARRAY['EUR','EUR','EUR','CHF','USD'])[1 + floor(random() * 5)::int],
              jsonb_build_object('lines', CASE WHEN random() < 0.5 THEN jsonb_build_array(${item()}) ELSE jsonb_build_array(${item()}, ${item()}) END,
                                 'payment', jsonb_build_object('method', ${pick(['card', 'paypal', 'sepa', 'klarna', 'invoice'])}, 'ref', ${token(12)}, 'token', ${token(32)}, 'device', ${token(24)}),
                                 'tracking', CASE WHEN random() < 0.6 THEN upper(${token(10)}) END, 'idempotency_key', ${token(32)}, 'signature', ${token(32)}, 'checksum', ${hex()},
                                 'gift_message', CASE WHEN random() < 0.3 THEN initcap(${words(3)}) || ' ' || ${pseudoText(40)} END),
              ${pick(FIRST)} || ' ' || ${pick(LAST)} || ', ' || initcap(${words(1)}) || ${pick(['straße', 'weg', 'allee', 'platz', 'gasse'])} || ' ' || (1 + floor(random() * 200))::int ||
                ', ' || lpad(floor(random() * 99999)::int::text, 5, '0') || ' ' || ${pick(CITIES)},
              timestamptz '2024-01-01' + random() * interval '365 days',
              timestamptz '2025-01-01' + random() * interval '30 days'
         FROM generate_series(${from}, ${to}) g`),
    ),
    ...ranges(audit).map(([from, to], i) =>
      seeded(500 + i, `INSERT INTO audit_log (id, actor_id, action, entity, entity_id, payload, ip, created_at)
       SELECT g, CASE WHEN random() < 0.1 THEN NULL ELSE 1 + floor(random() * ${users})::bigint END,
              (ARRAY['create','update','delete','login','export'])[1 + floor(random() * 5)::int],
              (ARRAY['order','product','user','store'])[1 + floor(random() * 4)::int], floor(random() * ${n})::bigint,
              jsonb_build_object('request_id', ${hex()}, 'auth', ${jwt()}, 'session', ${token(32)}, 'signature', ${token(32)},
                                 'changes', jsonb_build_object('field', ${pick(WORDS)}, 'old', floor(random() * 100000)::int, 'new', floor(random() * 100000)::int),
                                 'agent', ${pick(AGENTS)} || '/' || floor(random() * 130)::int || '.' || floor(random() * 10)::int || '.' || floor(random() * 10000)::int, 'csrf', ${token(32)}, 'latency_ms', round((random() * 900)::numeric, 1)),
              ('10.' || floor(random() * 256)::int || '.' || floor(random() * 256)::int || '.' || floor(random() * 254)::int)::inet,
              timestamptz '2024-01-01' + random() * interval '365 days'
         FROM generate_series(${from}, ${to}) g`),
    ),
  ];
  const sequences = BENCH_TABLES.map((t) => `SELECT setval('${t}_id_seq', (SELECT coalesce(max(id), 1) FROM ${t}))`).join('; ');
  return [first, second, third, [sequences]];
}
