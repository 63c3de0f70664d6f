// pgwarden rekey --db NAME | --all: re-wrap every data key for the current keys (a workflow per database, with
// progress); afterwards the keys under encryption.previous are no longer needed for them.
import { PgwardenError } from '../../domain/errors.js';
import { databaseView } from '../../config/load.js';
import { connectClient } from '../../worker/temporal.js';
import { rekeyWorkflowId } from '../../domain/ids.js';
import type { RekeyResult } from '../../domain/rekey.js';
import { noWorkerWarning, startLockedWorkflow, workersPolling } from '../api.js';
import type { CommandContext } from '../context.js';
import { waitFor } from '../watch.js';

export async function rekeyCommand(ctx: CommandContext, options: { db?: string; all: boolean }): Promise<void> {
  if ((options.db === undefined) === !options.all) throw new PgwardenError('Usage', 'rekey needs --db NAME (one database) or --all (every database in pgwarden.yaml).');
  const databases = options.all ? Object.keys(ctx.config.databases) : [databaseView(ctx.config, options.db!).name];
  const client = await connectClient(ctx.config);
  const results: RekeyResult[] = [];
  try {
    if (!(await workersPolling(client, ctx.config))) ctx.out.info(noWorkerWarning(ctx.config));
    for (const database of databases) {
      const handle = await startLockedWorkflow(client, ctx.config, 'rekeyWorkflow', rekeyWorkflowId(database), `A rekey of "${database}"`, [{ database }], [
        ['database', database],
        ['operation', 'rekey'],
      ]);
      const link = ctx.workflowLink(handle.workflowId, handle.firstExecutionRunId);
      ctx.out.info(`Re-wrapping the data keys of ${database}: workflow ${handle.workflowId}${link ? `\n  ${link}` : ''}`);
      results.push(await waitFor<RekeyResult>(handle, (status) => ctx.out.progress(status), undefined, undefined, ctx.config.temporal.outageWait));
    }
  } finally {
    await client.connection.close();
  }
  ctx.out.result(options.all ? results : results[0], () => results.map(describe).join('\n'));
}

function describe(r: RekeyResult): string {
  const lines = [
    `${r.database}: ${r.dataKeys} data key(s) now wrapped for ${r.wrappedFor.join(' and ')}: ${r.rewrapped} re-wrapped, ${r.alreadyCurrent} already were` +
      (r.gone ? `, ${r.gone} removed by retention meanwhile` : '') +
      ` (workflow ${r.workflowId} run ${r.runId}).`,
  ];
  if (r.beforeEnvelope.length > 0 || r.walBeforeEnvelope) {
    const what = [
      ...(r.beforeEnvelope.length ? [`${r.beforeEnvelope.length} backup(s) (${r.beforeEnvelope.slice(0, 3).map((b) => b.id).join(', ')}${r.beforeEnvelope.length > 3 ? ', …' : ''})`] : []),
      ...(r.walBeforeEnvelope ? ['WAL archived before the change'] : []),
    ].join(' and ');
    lines.push(
      `  ${what} predate envelope encryption: encrypted with a passphrase itself, they have no data key to re-wrap. ` +
        'Keep that passphrase (under encryption.previous) until retention has removed them.',
    );
  } else {
    lines.push('  Every backup and WAL day of it opens with the current keys: keys under encryption.previous can be removed for it.');
  }
  return lines.join('\n');
}
