// The workflows the worker hosts (this file is the bundle's entry point).
export { backupWorkflow } from './backup.js';
export { restoreWorkflow } from './restore.js';
export { baseBackupWorkflow } from './basebackup.js';
export { discardWhenBackWorkflow, pitrWorkflow } from './pitr.js';
export { expireWorkflow } from './expire.js';
export { scheduledWorkflow } from './scheduled.js';
export { discardBackupWorkflow } from './discard.js';
export { preMigrationWorkflow } from './premigration.js';
export { verifyWorkflow } from './verify.js';
export { drillWorkflow } from './drill.js';
export { monitorWorkflow } from './monitor.js';
export { notifyWorkflow } from './notify.js';
export { rekeyWorkflow } from './rekey.js';
export { neonPitrWorkflow } from './neon-pitr.js';
export { alertLedgerWorkflow } from './alert-ledger.js';
export { backupDiffWorkflow } from './backup-diff.js';
export { databaseLockWorkflow } from './lock.js';
