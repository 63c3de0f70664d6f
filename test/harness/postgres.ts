// Real PostgreSQL clusters for tests: a fresh directory (initdb, or a copy of this run's template: pg-template.ts),
// started on a free port, as an unprivileged OS user when the tests run as root.
import { mkdtempSync, chmodSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { clusterUser, freePort, LocalCluster } from '../../activities/postgres/cluster.js';
import { serverBinDir } from '../../activities/postgres/binaries.js';
import { initAndStart } from './pg-template.js';

export const SUPERUSER = 'warden_admin';

export interface TestCluster {
  cluster: LocalCluster;
  password: string;
  /** postgresql://warden_admin:…@127.0.0.1:PORT/<database> */
  url(database: string): string;
  query<T extends pg.QueryResultRow = pg.QueryResultRow>(database: string, sql: string, params?: unknown[]): Promise<pg.QueryResult<T>>;
  databases(): Promise<string[]>;
  stop(): Promise<void>;
}

/** `env` reaches the postmaster and the archive/restore commands it runs. */
export async function startCluster(extraConf: string[] = [], env: Record<string, string> = {}): Promise<TestCluster> {
  const user = await clusterUser(process.env.PGWARDEN_CLUSTER_USER ?? 'pgwarden');
  const root = mkdtempSync(join(tmpdir(), 'pgwarden-test-pg-'));
  chmodSync(root, 0o755); // the cluster's OS user must reach its data directory
  const password = `pw-${Math.random().toString(36).slice(2)}`;
  const cluster = new LocalCluster({ dataDir: join(root, 'data'), binDir: serverBinDir(), port: await freePort(), ...(user ? { user } : {}) });
  if (user) cluster.own(root);
  await initAndStart(cluster, SUPERUSER, password, extraConf, env);
  const url = (database: string) => cluster.url(SUPERUSER, password, database);
  const query = async <T extends pg.QueryResultRow>(database: string, sql: string, params?: unknown[]) => {
    const client = new pg.Client({ connectionString: url(database) });
    await client.connect();
    try {
      return await client.query<T>(sql, params);
    } finally {
      await client.end();
    }
  };
  return {
    cluster,
    password,
    url,
    query,
    databases: async () => (await query<{ datname: string }>('postgres', 'SELECT datname FROM pg_database ORDER BY 1')).rows.map((r) => r.datname),
    stop: async () => {
      await cluster.stop('immediate');
      rmSync(root, { recursive: true, force: true });
    },
  };
}
