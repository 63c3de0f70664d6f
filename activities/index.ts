// Every activity the worker registers, bound to the loaded configuration. Workflows import only the type.
import type { Config } from '../config/schema.js';
import { backupActivities } from './backup/index.js';
import { restoreActivities } from './restore/index.js';
import { baseBackupActivities } from './basebackup/index.js';
import { pitrActivities } from './pitr/index.js';
import { expireActivities } from './expire/index.js';
import { leaseActivities } from './hold/index.js';
import { lockActivities } from './lock.js';
import { preMigrationActivities } from './premigration/index.js';
import { alertActivities } from './alerts.js';
import { contentsActivities } from './catalog/contents.js';
import { drillActivities } from './drill/index.js';
import { monitorActivities } from './monitor.js';
import { verifyActivities } from './verify/index.js';
import { rekeyActivities } from './keys/rekey.js';
import { neonActivities } from './providers/neon/index.js';

export function createActivities(config: Config) {
  return {
    ...backupActivities(config),
    ...restoreActivities(config),
    ...baseBackupActivities(config),
    ...pitrActivities(config),
    ...expireActivities(config),
    ...leaseActivities(config),
    ...lockActivities(),
    ...preMigrationActivities(config),
    ...alertActivities(config),
    ...contentsActivities(config),
    ...monitorActivities(config),
    ...verifyActivities(config),
    ...drillActivities(config),
    ...rekeyActivities(config),
    ...neonActivities(config),
  };
}

export type Activities = ReturnType<typeof createActivities>;
