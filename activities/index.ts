// Every activity the worker registers, bound to the loaded configuration. Workflows import only the type.
import type { Config } from '../config/schema.js';
import { backupActivities } from './backup.js';
import { restoreActivities } from './restore.js';

export function createActivities(config: Config) {
  return {
    ...backupActivities(config),
    ...restoreActivities(config),
  };
}

export type Activities = ReturnType<typeof createActivities>;
