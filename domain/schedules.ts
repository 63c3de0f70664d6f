// What a Temporal Schedule starts: one operation of one database, run under that database's lock.
import type { BackupKind } from './kinds.js';

/** What a Temporal Schedule starts: it runs the real workflow under the database's lock id, waiting its turn. */
export interface ScheduledInput {
  database: string;
  operation: 'backup' | 'basebackup' | 'expire' | 'drill' | 'verify' | 'monitor';
  kind?: BackupKind;
}
