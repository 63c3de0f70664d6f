// Two backups of one database side by side, from the Temporal UI: the same answer as `pgwarden backups diff`
// (rows and sizes per table, tables added and removed, definitions changed), read from the repository, nothing restored.
import { proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import type { BackupDiff, BackupDiffInput } from '../domain/contents.js';
import { checkInput } from './input.js';
import { QUICK } from './policies.js';
import { tagRun } from './tags.js';

const quick = proxyActivities<Activities>(QUICK);

export async function backupDiffWorkflow(raw: BackupDiffInput): Promise<BackupDiff> {
  const input = checkInput<BackupDiffInput>(
    'backupDiffWorkflow',
    raw,
    { database: { type: 'string', required: true }, from: { type: 'string', required: true }, to: { type: 'string', required: true } },
    '{"database": "cartly", "from": "previous", "to": "latest"}',
  );
  tagRun(input.database, 'diff');
  return quick.diffBackups({ database: input.database, from: input.from, to: input.to });
}
