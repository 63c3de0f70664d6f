// A Cartly-like shop database (the runbook's tables) with data that compresses like real data (~2-3:1 with
// zstd, not the 100:1 of pgbench's blank filler). Used by the demo and the benchmark.

export const CARTLY_TABLES = ['companies', 'users', 'stores', 'products', 'orders', 'audit_log'] as const;

export const CARTLY_SCHEMA = `
CREATE TABLE companies (
  id          bigserial PRIMARY KEY,
  name        text NOT NULL,
  country     char(2) NOT NULL,
  vat_id      text,
  created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE users (
  id            bigserial PRIMARY KEY,
  company_id    bigint NOT NULL REFERENCES companies,
  email         text NOT NULL UNIQUE,
  full_name     text NOT NULL,
  password_hash text NOT NULL,
  created_at    timestamptz NOT NULL,
  last_login    timestamptz
);
CREATE TABLE stores (
  id          bigserial PRIMARY KEY,
  company_id  bigint NOT NULL REFERENCES companies,
  name        text NOT NULL,
  city        text NOT NULL,
  opened_on   date NOT NULL
);
CREATE TABLE products (
  id          bigserial PRIMARY KEY,
  store_id    bigint NOT NULL REFERENCES stores,
  sku         text NOT NULL UNIQUE,
  title       text NOT NULL,
  description text,
  price_cents integer NOT NULL CHECK (price_cents >= 0),
  attributes  jsonb NOT NULL DEFAULT '{}',
  tags        text[] NOT NULL DEFAULT '{}'
);
CREATE TABLE orders (
  id               bigserial PRIMARY KEY,
  user_id          bigint NOT NULL REFERENCES users,
  store_id         bigint NOT NULL REFERENCES stores,
  status           text NOT NULL CHECK (status IN ('new', 'paid', 'shipped', 'delivered', 'cancelled', 'refunded')),
  total_cents      bigint NOT NULL,
  currency         char(3) NOT NULL,
  items            jsonb NOT NULL,
  shipping_address text NOT NULL,
  created_at       timestamptz NOT NULL,
  updated_at       timestamptz NOT NULL
);
CREATE TABLE audit_log (
  id         bigserial PRIMARY KEY,
  actor_id   bigint,
  action     text NOT NULL,
  entity     text NOT NULL,
  entity_id  bigint NOT NULL,
  payload    jsonb NOT NULL,
  ip         inet,
  created_at timestamptz NOT NULL
);
CREATE INDEX orders_user_id_idx ON orders (user_id);
CREATE INDEX orders_created_at_idx ON orders (created_at);
CREATE INDEX orders_store_status_idx ON orders (store_id, status);
CREATE INDEX products_store_id_idx ON products (store_id);
CREATE INDEX audit_log_created_at_idx ON audit_log (created_at);
CREATE INDEX audit_log_entity_idx ON audit_log (entity, entity_id);
CREATE VIEW revenue_by_store AS
  SELECT s.id AS store_id, s.name, count(o.id) AS orders, coalesce(sum(o.total_cents), 0) AS revenue_cents
    FROM stores s LEFT JOIN orders o ON o.store_id = s.id AND o.status IN ('paid', 'shipped', 'delivered')
   GROUP BY s.id, s.name;
`;

/** How many rows of each table `orders` orders come with (at least `minimum` orders); the bench's data uses it too. */
export function cartlyScale(orders: number, minimum: number): { orders: number; companies: number; users: number; stores: number; products: number; audit: number } {
  const n = Math.max(minimum, Math.floor(orders));
  return {
    orders: n,
    companies: Math.max(10, Math.floor(n / 400)),
    users: Math.max(50, Math.floor(n / 10)),
    stores: Math.max(10, Math.floor(n / 100)),
    products: Math.max(50, Math.floor(n / 4)),
    audit: n * 2,
  };
}

/**
 * INSERT … SELECT statements that fill the schema; `orders` sets the scale (about 1 KB of table data per order
 * with everything else, so 1,000,000 orders is roughly 1 GB). Deterministic: setseed() fixes random().
 */
export function cartlyDataStatements(orders: number): string[] {
  const { orders: n, companies, users, stores, products, audit } = cartlyScale(orders, 100);
  const word = (expr: string) =>
    `(ARRAY['alpha','berlin','cart','delta','euro','fresh','garden','harbor','iris','jade','kiosk','lumen','market','nord','orbit','prime','quartz','rhein','solar','terra'])[1 + (${expr})::int % 20]`;
  return [
    `SELECT setseed(0.42)`,
    `INSERT INTO companies (name, country, vat_id, created_at)
       SELECT initcap(${word('g * 7')}) || ' ' || initcap(${word('g * 13')}) || ' GmbH ' || g,
              (ARRAY['DE','AT','CH','NL','FR'])[1 + g % 5], 'DE' || (100000000 + (random() * 899999999)::bigint),
              timestamptz '2020-01-01' + random() * interval '1500 days'
         FROM generate_series(1, ${companies}) g`,
    `INSERT INTO users (company_id, email, full_name, password_hash, created_at, last_login)
       SELECT 1 + g % ${companies}, 'user' || g || CASE WHEN g % 50 = 0 THEN '@test.cartly.de' ELSE '@example.com' END,
              initcap(${word('g')}) || ' ' || initcap(${word('g / 20')}),
              '$2b$12$' || substr(md5(random()::text) || md5(random()::text), 1, 53),
              timestamptz '2021-01-01' + random() * interval '1000 days',
              CASE WHEN random() < 0.8 THEN timestamptz '2024-01-01' + random() * interval '600 days' END
         FROM generate_series(1, ${users}) g`,
    `INSERT INTO stores (company_id, name, city, opened_on)
       SELECT 1 + g % ${companies}, initcap(${word('g * 3')}) || ' Store ' || g,
              (ARRAY['Berlin','Hamburg','München','Köln','Frankfurt','Wien','Zürich','Amsterdam'])[1 + g % 8],
              date '2019-01-01' + (random() * 2000)::int
         FROM generate_series(1, ${stores}) g`,
    `INSERT INTO products (store_id, sku, title, description, price_cents, attributes, tags)
       SELECT 1 + g % ${stores}, 'SKU-' || lpad(g::text, 9, '0'),
              initcap(${word('g')}) || ' ' || ${word('g / 7')} || ' ' || (random() * 1000)::int,
              md5(random()::text) || ' ' || ${word('g / 3')} || ' ' || md5(random()::text),
              (random() * 100000)::int,
              jsonb_build_object('color', ${word('g / 5')}, 'weight_g', (random() * 5000)::int, 'ean', (4000000000000 + (random() * 999999999999)::bigint)::text),
              ARRAY[${word('g / 11')}, ${word('g / 17')}]
         FROM generate_series(1, ${products}) g`,
    `INSERT INTO orders (user_id, store_id, status, total_cents, currency, items, shipping_address, created_at, updated_at)
       SELECT 1 + (random() * (${users} - 1))::bigint, 1 + (random() * (${stores} - 1))::bigint,
              (ARRAY['new','paid','shipped','delivered','cancelled','refunded'])[1 + (random() * 5)::int],
              (random() * 50000)::bigint, (ARRAY['EUR','EUR','EUR','CHF','USD'])[1 + g % 5],
              jsonb_build_array(
                jsonb_build_object('sku', 'SKU-' || lpad((1 + (random() * (${products} - 1))::int)::text, 9, '0'), 'qty', 1 + (random() * 4)::int, 'price_cents', (random() * 20000)::int),
                jsonb_build_object('sku', 'SKU-' || lpad((1 + (random() * (${products} - 1))::int)::text, 9, '0'), 'qty', 1 + (random() * 4)::int, 'price_cents', (random() * 20000)::int)),
              (random() * 200)::int || ' ' || initcap(${word('g / 9')}) || 'straße, ' || lpad(((random() * 99999)::int)::text, 5, '0') || ' ' || md5(random()::text),
              timestamptz '2024-01-01' + g * interval '1 second' * (31536000.0 / ${n}),
              timestamptz '2024-01-01' + g * interval '1 second' * (31536000.0 / ${n}) + random() * interval '10 days'
         FROM generate_series(1, ${n}) g`,
    `INSERT INTO audit_log (actor_id, action, entity, entity_id, payload, ip, created_at)
       SELECT CASE WHEN g % 10 = 0 THEN NULL ELSE 1 + (random() * (${users} - 1))::bigint END,
              (ARRAY['create','update','delete','login','export'])[1 + g % 5],
              (ARRAY['order','product','user','store'])[1 + g % 4], (random() * ${n})::bigint,
              jsonb_build_object('request_id', md5(random()::text), 'changes', jsonb_build_object('field', ${word('g / 3')}, 'old', (random() * 1000)::int, 'new', (random() * 1000)::int), 'agent', 'cartly-web/' || (g % 7)),
              ('10.' || (g % 256) || '.' || ((g / 256) % 256) || '.' || (random() * 254)::int)::inet,
              timestamptz '2024-01-01' + g * interval '1 second' * (15768000.0 / ${n})
         FROM generate_series(1, ${audit}) g`,
    `ANALYZE`,
  ];
}
