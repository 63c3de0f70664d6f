// Everything an integration test needs, real: a Temporal dev server, a PostgreSQL cluster, versitygw as S3,
// a filesystem repository, and a pgwarden worker; stop() tears it all down.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Config, ConfigInput } from '../../config/schema.js';
import { secretEnv, testConfig } from './config.js';
import { startCluster, type TestCluster } from './postgres.js';
import { startS3, type TestS3 } from './s3.js';
import { namespaceOf, runWorker, startTemporal, type RunningWorker } from './temporal.js';

export interface DatabaseRef {
  db: string;
  repositories?: string[];
  /** The URL, when the database is not on the stack's own cluster. */
  url?: string;
  pitr?: { repository?: string; runAs?: string; retention?: string };
}

export interface Stack {
  env: TestWorkflowEnvironment;
  pg: TestCluster;
  s3: TestS3;
  bucket: string;
  fsPath: string;
  passphraseEnv: string;
  /** A configuration over this stack; `databases` maps names to database names on the test cluster. */
  config(databases: Record<string, DatabaseRef>, overrides?: Partial<ConfigInput>): Config;
  /** The same, as the plain input a pgwarden.yaml would hold. */
  configInput(databases: Record<string, DatabaseRef>, overrides?: Partial<ConfigInput>): ConfigInput;
  /** Starts a worker for `config` (stopped with the stack). */
  worker(config: Config): Promise<RunningWorker>;
  stop(): Promise<void>;
}

/** `ownTemporal`: a Temporal dev server of its own instead of a namespace on the suite's shared one (see startTemporal). */
export async function startStack(options: { ownTemporal?: boolean } = {}): Promise<Stack> {
  const started = await Promise.allSettled([startTemporal({ own: options.ownTemporal }), startCluster(), startS3()]);
  const failed = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed) {
    // Stop what did start: a server left running keeps the test process (and CI) alive forever.
    const [t, p, s] = started;
    await Promise.allSettled([
      t.status === 'fulfilled' ? t.value.teardown() : undefined,
      p.status === 'fulfilled' ? p.value.stop() : undefined,
      s.status === 'fulfilled' ? s.value.stop() : undefined,
    ]);
    throw failed.reason;
  }
  const [env, pg, s3] = started.map((s) => (s as PromiseFulfilledResult<unknown>).value) as [TestWorkflowEnvironment, TestCluster, TestS3];
  const bucket = 'pgwarden-test';
  await s3.createBucket(bucket);
  const fsPath = mkdtempSync(join(tmpdir(), 'pgwarden-test-repo-'));
  const accessKeyEnv = secretEnv(s3.accessKeyId, 'PGWARDEN_TEST_S3_KEY');
  const secretKeyEnv = secretEnv(s3.secretAccessKey, 'PGWARDEN_TEST_S3_SECRET');
  const passphraseEnv = secretEnv('test passphrase: not for production', 'PGWARDEN_TEST_PASSPHRASE');
  const workers: RunningWorker[] = [];
  let queue = 0;
  const configInput = (databases: Record<string, DatabaseRef>, overrides: Partial<ConfigInput> = {}): ConfigInput => {
    queue += 1;
    const input: ConfigInput = {
      temporal: { address: env.address, namespace: namespaceOf(env), taskQueue: `pgwarden-test-${process.pid}-${queue}` },
      encryption: { passphraseEnv },
      backup: { jobs: 2, splitTableMiB: 0.25, chunkMiB: 1 },
      repositories: {
        s3: {
          type: 's3',
          endpoint: s3.endpoint,
          region: 'us-east-1',
          bucket,
          prefix: 'backups',
          forcePathStyle: true,
          accessKeyIdEnv: accessKeyEnv,
          secretAccessKeyEnv: secretKeyEnv,
          partSizeMiB: 5,
        },
        local: { type: 'fs', path: fsPath },
      },
      databases: Object.fromEntries(
        Object.entries(databases).map(([name, d]) => [
          name,
          {
            connection: { env: secretEnv(d.url ?? pg.url(d.db), 'PGWARDEN_TEST_DB_URL') },
            environment: 'production',
            repositories: d.repositories ?? ['s3'],
            ...(d.pitr ? { pitr: d.pitr } : {}),
          },
        ]),
      ),
      ...overrides,
    };
    return input;
  };
  return {
    env,
    pg,
    s3,
    bucket,
    fsPath,
    passphraseEnv,
    config: (databases, overrides = {}) => testConfig(configInput(databases, overrides)),
    configInput,
    async worker(config) {
      const worker = await runWorker(env, config);
      workers.push(worker);
      return worker;
    },
    async stop() {
      await Promise.all(workers.map((w) => w.stop().catch(() => undefined)));
      await env.teardown();
      await Promise.all([pg.stop(), s3.stop()]);
      rmSync(fsPath, { recursive: true, force: true });
    },
  };
}
