// The kinds of logical backup: each has its own schedule and retention (pure data, cheap to import).
export const BACKUP_KINDS = ['daily', 'weekly', 'monthly', 'pre-migration', 'manual'] as const;
export type BackupKind = (typeof BACKUP_KINDS)[number];
