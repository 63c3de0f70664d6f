// Leases: a restore, drill or point-in-time restore that reads backups says so in the repository, and retention
// leaves those backups (and the WAL a held base backup needs) alone until the reader is done.
//
//   <prefix>/<database>/leases/<holder>.json   { holder, purpose, backups: [{ type, id }], takenAt, expiresAt }
//
// A lease taken inside a Temporal workflow lives as long as that run is open (retention asks Temporal); one taken
// by a process without Temporal (`--local`) is renewed while the process works and lapses soon after it dies.
import { hostname } from 'node:os';
import { z } from 'zod';
import type { Repository } from '../storage/repository.js';

const BackupRef = z.object({ type: z.enum(['logical', 'base']), id: z.string() });
export type BackupRef = z.infer<typeof BackupRef>;

const WorkflowHolder = z.object({ namespace: z.string(), workflowId: z.string(), runId: z.string() });
export type WorkflowHolder = z.infer<typeof WorkflowHolder>;

const Lease = z.object({
  leaseVersion: z.literal(1),
  holder: z.union([z.object({ workflow: WorkflowHolder }), z.object({ process: z.string() })]),
  purpose: z.string(), // "restore into cartly_restored": what retention reports as the reason it kept a backup
  backups: z.array(BackupRef),
  takenAt: z.string(),
  /** Renewed by `--local` holders; for workflow holders only used when Temporal cannot be asked. */
  expiresAt: z.string(),
});
export type Lease = z.infer<typeof Lease>;

/** How long a lease of a process without Temporal outlives its last renewal. */
export const LOCAL_LEASE_MS = 5 * 60_000;
/** How long a workflow's lease counts when retention cannot ask Temporal whether the run is still open. */
export const WORKFLOW_LEASE_MS = 24 * 3_600_000;

export function leaseFolder(database: string): string {
  return `${database}/leases/`;
}

/** A name for the lease file that says who holds it. */
export function leaseName(holder: Lease['holder']): string {
  const raw = 'workflow' in holder ? `${holder.workflow.workflowId}-${holder.workflow.runId}` : `local-${holder.process}`;
  return raw.replace(/[^A-Za-z0-9_.-]/g, '_');
}

export function localHolder(runId: string): Lease['holder'] {
  return { process: `${process.pid}@${hostname()}-${runId.slice(0, 8)}` };
}

export async function writeLease(repo: Repository, database: string, name: string, lease: Lease): Promise<void> {
  await repo.putBytes(`${leaseFolder(database)}${name}.json`, Buffer.from(`${JSON.stringify(lease, null, 2)}\n`));
}

export async function removeLease(repo: Repository, database: string, name: string): Promise<void> {
  await repo.delete([`${leaseFolder(database)}${name}.json`]);
}

export interface StoredLease {
  key: string;
  lease: Lease;
}

/** Every lease of `database` in the repository; an unreadable one counts as holding nothing, but is kept. */
export async function readLeases(repo: Repository, database: string): Promise<StoredLease[]> {
  const leases: StoredLease[] = [];
  for await (const object of repo.list(leaseFolder(database))) {
    if (!object.key.endsWith('.json')) continue;
    const data = await repo.getBytes(object.key);
    if (!data) continue; // released meanwhile
    try {
      leases.push({ key: object.key, lease: Lease.parse(JSON.parse(data.toString('utf8'))) });
    } catch {
      /* a newer or damaged format: not ours to interpret, not ours to delete */
    }
  }
  return leases;
}

/** Whether a workflow run is still open: true/false, or undefined when Temporal cannot tell. */
export type RunIsOpen = (holder: WorkflowHolder) => Promise<boolean | undefined>;

/** Whether a lease still holds its backups at `nowMs`. */
export async function leaseIsLive(lease: Lease, nowMs: number, runIsOpen?: RunIsOpen): Promise<boolean> {
  if ('workflow' in lease.holder && runIsOpen) {
    const open = await runIsOpen(lease.holder.workflow);
    if (open !== undefined) return open;
  }
  return nowMs < Date.parse(lease.expiresAt);
}

/** Who holds a lease, for messages and retention's report. */
export function describeHolder(lease: Lease): string {
  const who = 'workflow' in lease.holder ? `workflow ${lease.holder.workflow.workflowId} run ${lease.holder.workflow.runId}` : `process ${lease.holder.process}`;
  return `${lease.purpose} (${who})`;
}

export function backupKey(ref: BackupRef): string {
  return `${ref.type}/${ref.id}`;
}

/**
 * The backups that live leases hold, keyed "logical/<id>" or "base/<id>", with who holds them; and the leases
 * that have lapsed (their holders are gone), which retention removes.
 */
export async function heldBackups(repo: Repository, database: string, nowMs: number, runIsOpen?: RunIsOpen): Promise<{ held: Map<string, string[]>; lapsed: string[] }> {
  const held = new Map<string, string[]>();
  const lapsed: string[] = [];
  for (const { key, lease } of await readLeases(repo, database)) {
    if (!(await leaseIsLive(lease, nowMs, runIsOpen))) {
      lapsed.push(key);
      continue;
    }
    for (const ref of lease.backups) held.set(backupKey(ref), [...(held.get(backupKey(ref)) ?? []), describeHolder(lease)]);
  }
  return { held, lapsed };
}
