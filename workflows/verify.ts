// Integrity verification without restoring: every object of the chosen backups, in every repository, is read
// back and checked (size, sha256, decryption, plain size); for PITR databases, the WAL each kept base backup
// needs. The report says what is damaged, where, and which restores that breaks; damage fails the workflow.
import { ApplicationFailure, patched, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import type { BackupCheck, VerifyPlan, WalCheck } from '../activities/verify/index.js';
import type { VerifyInput, VerifyResult } from '../domain/verify.js';
import { checkInput } from './input.js';
import { HEAVY_WORK_ON_JOB_QUEUES, jobOptions, QUICK } from './policies.js';
import { tagRun } from './tags.js';

const quick = proxyActivities<Activities>(QUICK);

export async function verifyWorkflow(raw: VerifyInput): Promise<VerifyResult> {
  const input = checkInput<VerifyInput>(
    'verifyWorkflow',
    raw,
    { database: { type: 'string', required: true }, backup: { type: 'string' }, wal: { type: 'boolean' } },
    '{"database": "cartly", "backup": "<id>|latest|all", "wal": true}',
  );
  tagRun(input.database, 'verify');
  const info = workflowInfo();
  const started = Date.now();
  // Reading every object back is a restore's work: it takes a restore slot of the worker.
  const long = proxyActivities<Activities>(jobOptions(info.taskQueue, 'restores', patched(HEAVY_WORK_ON_JOB_QUEUES)));
  const plan = await quick.planVerify({ database: input.database, ...(input.backup ? { backup: input.backup } : {}), ...(input.wal !== undefined ? { wal: input.wal } : {}) });
  const checks: BackupCheck[] = [];
  for (const unit of plan.units) checks.push(await long.verifyBackup({ database: input.database, ...unit }));
  const wal = plan.wal ? await long.verifyWal({ database: input.database }) : undefined;

  const report = assembleReport(input.database, plan, checks, wal);
  const result: VerifyResult = { ...report, durationMs: Date.now() - started, checkedAt: new Date(started).toISOString(), workflowId: info.workflowId, runId: info.runId };
  await quick.recordVerify(result).catch(() => undefined); // the report in the history is what counts
  if (!result.ok) {
    throw ApplicationFailure.create({
      type: 'Integrity',
      nonRetryable: true,
      message: `Verification of ${input.database} found ${result.findings.length} problem(s): ${(result.broken.length ? result.broken : result.findings.map((f) => `${f.object}: ${f.detail}`)).join('; ')}`,
      details: [result],
    });
  }
  return result;
}

/** What the findings mean for restores: which no longer work, and what to use instead. */
export function assembleReport(database: string, plan: VerifyPlan, checks: BackupCheck[], wal: WalCheck | undefined): Omit<VerifyResult, 'durationMs' | 'checkedAt' | 'workflowId' | 'runId'> {
  const broken: string[] = [];
  const damaged = checks.filter((c) => !c.backup.ok);
  for (const check of damaged.filter((c) => c.backup.type === 'logical')) {
    const { id, repository } = check.backup;
    const intactElsewhere = checks.find((c) => c.backup.type === 'logical' && c.backup.id === id && c.backup.ok && c.backup.repository !== repository);
    const objects = check.findings.map((f) => `${f.object.split('/').pop()} (${f.problem})`).join(', ');
    if (intactElsewhere) {
      broken.push(`restoring backup ${id} from repository "${repository}" fails (${objects}); its copy in "${intactElsewhere.backup.repository}" is intact: restore with --repository ${intactElsewhere.backup.repository}`);
    } else {
      const older = (plan.logicalIds[repository] ?? []).filter((other) => other < id && !damaged.some((d) => d.backup.id === other));
      broken.push(`backup ${id} in repository "${repository}" cannot be restored (${objects})${older.length ? `; the newest intact older backup is ${older.at(-1)}` : ''}`);
    }
    if ((plan.logicalIds[repository] ?? []).at(-1) === id) broken.push(`\`restore --backup latest\` from "${repository}" fails while ${id} is the newest backup there`);
  }
  for (const check of damaged.filter((c) => c.backup.type === 'base')) {
    const older = plan.baseIds.filter((other) => other < check.backup.id && !damaged.some((d) => d.backup.id === other));
    broken.push(
      `base backup ${check.backup.id} is damaged (${check.findings.map((f) => f.problem).join(', ')}): point-in-time restores cannot start from it` +
        (older.length ? `; use an older one with --backup ${older.at(-1)} (its WAL must reach the target)` : ''),
    );
  }
  if (wal) broken.push(...wal.broken);
  const findings = [...checks.flatMap((c) => c.findings), ...(wal?.findings ?? [])];
  return {
    database,
    ok: findings.length === 0,
    complete: plan.complete,
    backups: checks.map((c) => c.backup),
    ...(wal ? { wal: { repository: wal.repository, segmentsChecked: wal.segmentsChecked, ok: wal.findings.length === 0 } } : {}),
    findings,
    broken,
    bytesRead: checks.reduce((sum, c) => sum + c.bytesRead, 0),
  };
}
