// Activities of integrity verification: plan what to read, verify each backup (backup.ts) and the WAL archive
// (wal.ts), and keep the report beside the backups.
import { PgwardenError } from '../../domain/errors.js';
import type { Config } from '../../config/schema.js';
import type { VerifyResult } from '../../domain/verify.js';
import { listBackups } from '../catalog/list.js';
import type { BackupManifest } from '../catalog/manifest.js';
import { writeReport } from '../catalog/monitor-records.js';
import { resolveDatabase } from '../database-context.js';
import { noKeyError } from '../keys/keyring.js';
import { verifyBackup } from './backup.js';
import type { BackupCheck, VerifyPlan, VerifyUnit, WalCheck } from './inputs.js';
import { verifyWal } from './wal.js';

export * from './inputs.js';

export function verifyActivities(config: Config) {
  return {
    /** What a verification reads: a backup id, the latest or all backups in every repository, and whether WAL. */
    async planVerify(input: { database: string; backup?: string; wal?: boolean }): Promise<VerifyPlan> {
      const db = resolveDatabase(config, input.database);
      const pitr = db.settings.pitr !== undefined;
      if (input.wal && !pitr) {
        throw new PgwardenError('Usage', `Database "${input.database}" has no WAL archive (no pitr: in pgwarden.yaml): verify it without --wal.`);
      }
      // A missing key fails here, before anything is read; a worker with public keys only cannot check decryption.
      const keyring = await db.keyring();
      if (keyring.openers.length === 0) throw noKeyError(keyring, undefined, `the data keys of the backups of "${input.database}" (it decrypts every object)`, '`pgwarden verify`');
      const selection = input.backup ?? 'all';
      const units: VerifyUnit[] = [];
      const logicalIds: Record<string, string[]> = {};
      for (const repository of db.view.allRepositories) {
        const all = await listBackups(db.repository(repository), input.database, 'logical');
        logicalIds[repository] = all.map((m) => m.id);
        for (const m of pick(all, selection)) units.push({ repository, type: 'logical', id: m.id });
      }
      let baseIds: string[] = [];
      if (pitr) {
        const repository = db.walRepository;
        const bases = await listBackups(db.repository(repository), input.database, 'base');
        baseIds = bases.map((m) => m.id);
        for (const m of pick(bases, selection)) units.push({ repository, type: 'base', id: m.id });
      }
      if (units.length === 0 && selection !== 'all' && selection !== 'latest') {
        throw new PgwardenError('NotFound', `Backup "${selection}" of "${input.database}" is in none of its repositories (${db.view.allRepositories.join(', ')}): list them with \`pgwarden backups list --db ${input.database}\`.`);
      }
      const wal = input.wal ?? pitr;
      return { units, wal, complete: selection === 'all' && (wal || !pitr), logicalIds, baseIds };
    },

    async verifyBackup(input: { database: string } & VerifyUnit): Promise<BackupCheck> {
      return verifyBackup(config, input.database, input);
    },

    async verifyWal(input: { database: string }): Promise<WalCheck> {
      return verifyWal(config, input.database);
    },

    /** Keeps the report beside the backups (status, metrics and the monitor read it from there). */
    async recordVerify(report: VerifyResult): Promise<{ repository?: string }> {
      const repository = await writeReport(config, report.database, 'verify', report);
      return repository ? { repository } : {};
    },
  };
}

function pick(all: BackupManifest[], selection: string): BackupManifest[] {
  if (selection === 'all') return all;
  if (selection === 'latest') return all.slice(-1);
  return all.filter((m) => m.id === selection);
}
