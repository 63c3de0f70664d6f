// New test clusters copied from one initdb per suite run instead of an initdb each: initdb costs most of a CPU-second
// (its bootstrap and single-user runs, then a sync), a copy a few hundredths. Each copy is made a database system of
// its own, as initdb would have made it: a fresh system identifier in pg_control (what pgwarden tells clusters apart
// by, in the WAL archive and in its checks), a WAL written anew for it by pg_resetwal, and its own password.
//
// The test runner (run-suite.ts) names a folder for the templates in PGWARDEN_TEST_PG_TEMPLATES and removes it at
// the end; a test file run on its own has none, and each cluster gets an initdb of its own.
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { basename, dirname, join } from 'node:path';
import { execa } from 'execa';
import pg from 'pg';
import crc32c from 'crc-32/crc32c.js';
import { LocalCluster } from '../../activities/postgres/cluster.js';

export const PG_TEMPLATES_ENV = 'PGWARDEN_TEST_PG_TEMPLATES';

/** pg_control's size on disk (PG_CONTROL_FILE_SIZE); its data begins with the 64-bit system identifier. */
const PG_CONTROL_FILE_SIZE = 8192;

/**
 * Gives `cluster` (not yet created) a data directory for the superuser `superuser` with `password` and our settings
 * (LocalCluster.configureNew with `extraConf`), and starts it with `env`: from this run's template when there is one,
 * else with initdb.
 */
export async function initAndStart(cluster: LocalCluster, superuser: string, password: string, extraConf: string[] = [], env: Record<string, string> = {}): Promise<void> {
  const templates = process.env[PG_TEMPLATES_ENV];
  if (!templates) {
    await cluster.init(superuser, password, extraConf);
    await cluster.start(600, env);
    return;
  }
  const template = await templateFor(templates, cluster, superuser);
  await execa('cp', ['-a', template.dataDir, cluster.dataDir]); // as root, cp -a keeps the cluster user's ownership
  setSystemIdentifier(join(cluster.dataDir, 'global', 'pg_control'), newSystemIdentifier());
  // The WAL carries the system identifier too: pg_resetwal writes a new WAL for the one pg_control now holds.
  await cluster.run('pg_resetwal', ['-D', cluster.dataDir]);
  cluster.configureNew(extraConf);
  await cluster.start(600, env);
  const client = new pg.Client({ connectionString: cluster.url(superuser, template.password, 'postgres') });
  await client.connect();
  try {
    await client.query(`ALTER ROLE ${client.escapeIdentifier(superuser)} PASSWORD ${client.escapeLiteral(password)}`);
  } finally {
    await client.end();
  }
}

interface Template {
  dataDir: string;
  password: string;
}

/**
 * This run's template for `superuser` on the cluster's server version, made by the first test process that needs
 * it: built beside, then renamed into place (a rename either wins or finds the folder taken by another process's).
 */
async function templateFor(templates: string, cluster: LocalCluster, superuser: string): Promise<Template> {
  const dir = join(templates, `${superuser}-${basename(dirname(cluster.options.binDir))}`);
  const read = (): Template => ({ dataDir: join(dir, 'data'), password: readFileSync(join(dir, 'password'), 'utf8') });
  if (existsSync(dir)) return read();
  const building = mkdtempSync(join(templates, 'building-'));
  chmodSync(building, 0o755); // the cluster's OS user must reach the data directory
  const template = new LocalCluster({ ...cluster.options, dataDir: join(building, 'data'), port: 0 });
  const password = randomBytes(12).toString('hex');
  await template.initdb(superuser, password);
  // Its WAL would only be copied to be replaced: pg_resetwal writes each copy's own from pg_control alone.
  for (const file of readdirSync(join(template.dataDir, 'pg_wal'))) if (/^[0-9A-F]{24}$/.test(file)) rmSync(join(template.dataDir, 'pg_wal', file));
  writeFileSync(join(building, 'password'), password, { mode: 0o600 });
  try {
    renameSync(building, dir);
  } catch (error) {
    if (!['ENOTEMPTY', 'EEXIST'].includes((error as NodeJS.ErrnoException).code ?? '')) throw error;
    rmSync(building, { recursive: true, force: true }); // another test process made it first
  }
  return read();
}

/** As PostgreSQL makes one (seconds since 1970 in the high half), with random low bits instead of the time's rest and the pid. */
export function newSystemIdentifier(): bigint {
  return (BigInt(Math.floor(Date.now() / 1000)) << 32n) | BigInt(randomBytes(4).readUInt32LE(0));
}

/**
 * Writes `identifier` into pg_control and its CRC-32C anew. The CRC covers the data up to itself; its offset is found
 * as the one place where the stored value is the CRC of what precedes it, so no field layout is assumed but the
 * first (the identifier, at 0, in every version).
 */
export function setSystemIdentifier(file: string, identifier: bigint): void {
  const control = readFileSync(file);
  if (control.length !== PG_CONTROL_FILE_SIZE) throw new Error(`${file}: ${control.length} bytes, expected ${PG_CONTROL_FILE_SIZE}`);
  const at = crcOffset(control);
  control.writeBigUInt64LE(identifier, 0);
  control.writeUInt32LE(crc32c.buf(control.subarray(0, at)) >>> 0, at);
  writeFileSync(file, control);
}

function crcOffset(control: Buffer): number {
  for (let at = 8; at + 4 <= 1024; at += 4) {
    if (control.readUInt32LE(at) === crc32c.buf(control.subarray(0, at)) >>> 0) return at;
  }
  throw new Error('pg_control: no CRC-32C found in its first KiB (not a pg_control file?)');
}
