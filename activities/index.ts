// Every activity the worker registers, bound to the loaded configuration. Workflows import only the type.
import type { Config } from '../config/schema.js';
import { backupActivities } from './backup.js';
import { restoreActivities } from './restore.js';
import { baseBackupActivities } from './basebackup.js';
import { pitrActivities } from './pitr/index.js';
import { expireActivities } from './expire.js';

export function createActivities(config: Config) {
  return {
    ...backupActivities(config),
    ...restoreActivities(config),
    ...baseBackupActivities(config),
    ...pitrActivities(config),
    ...expireActivities(config),
  };
}

export type Activities = ReturnType<typeof createActivities>;
