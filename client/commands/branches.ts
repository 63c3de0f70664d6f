// pgwarden branches list|delete --db NAME: the Neon branches pgwarden made (point-in-time restores, backup branches
// not yet cleaned up). Talks to the Neon API directly; needs the API key in this process's environment.
import { deletePgwardenBranch, listPgwardenBranches } from '../../activities/providers/neon/ownership.js';
import type { CommandContext } from '../context.js';

export async function listBranchesCommand(ctx: CommandContext, options: { db: string }): Promise<void> {
  const branches = await listPgwardenBranches(ctx.config, options.db);
  const rows = branches.map(({ branch, purpose }) => ({
    id: branch.id,
    name: branch.name,
    purpose,
    createdAt: branch.created_at,
    parentId: branch.parent_id,
    ...(branch.parent_timestamp ? { parentTimestamp: branch.parent_timestamp } : {}),
    ...(branch.parent_lsn ? { parentLsn: branch.parent_lsn } : {}),
    ...(branch.expires_at ? { expiresAt: branch.expires_at } : {}),
  }));
  ctx.out.result({ database: options.db, branches: rows }, () =>
    rows.length === 0
      ? `No branches of pgwarden's for ${options.db}.`
      : [
          `Branches pgwarden made for ${options.db} (delete with: pgwarden branches delete --db ${options.db} --branch NAME):`,
          ...rows.map((b) => `  ${b.name}  ${b.id}  ${b.purpose === 'pitr' ? `point-in-time restore to ${b.parentTimestamp ?? b.parentLsn ?? '?'}` : 'backup branch left behind (retention deletes it)'}  made ${b.createdAt}${b.expiresAt ? `, expires ${b.expiresAt}` : ''}`),
        ].join('\n'),
  );
}

export async function deleteBranchCommand(ctx: CommandContext, options: { db: string; branch: string }): Promise<void> {
  const branch = await deletePgwardenBranch(ctx.config, options.db, options.branch);
  ctx.out.result({ database: options.db, deleted: { id: branch.id, name: branch.name } }, () => `Deleted Neon branch ${branch.name} (${branch.id}) of ${options.db}.`);
}
