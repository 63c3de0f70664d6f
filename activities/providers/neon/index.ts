// The activities of Neon databases, one file per concern: the API client (api.ts), the branches both paths make and
// delete (branch.ts), a backup's branch (backup-branch.ts), a point-in-time branch (pitr-branch.ts), and which
// branches are pgwarden's (ownership.ts, with the retention sweep).
import type { Config } from '../../../config/schema.js';
import { neonBackupActivities } from './backup-branch.js';
import { neonBranchActivities } from './branch.js';
import { sweepNeonBranches } from './ownership.js';
import { neonPitrActivities } from './pitr-branch.js';

export function neonActivities(config: Config) {
  return {
    ...neonBackupActivities(config),
    ...neonPitrActivities(config),
    ...neonBranchActivities(config),
    /** Retention's part for Neon: backup branches left behind by runs that are over. */
    sweepNeonBranches: (input: { database: string; dryRun?: boolean }) => sweepNeonBranches(config, input),
  };
}
