// Links into the Temporal UI, for reports, alerts and the CLI.
import type { Config } from '../../config/schema.js';

/** The UI's address: temporal.ui, else the dev server's own UI when Temporal runs on this machine's default port. */
export function temporalUi(config: Config): string | undefined {
  const t = config.temporal;
  return (t.ui ?? (/^(localhost|127\.0\.0\.1):7233$/.test(t.address) ? 'http://localhost:8233' : undefined))?.replace(/\/$/, '');
}

/** The run's page in the Temporal UI, when we know where the UI is. */
export function workflowLink(config: Config, workflowId: string, runId: string): string | undefined {
  const ui = temporalUi(config);
  if (!ui) return undefined;
  return `${ui}/namespaces/${encodeURIComponent(config.temporal.namespace)}/workflows/${encodeURIComponent(workflowId)}/${runId}/history`;
}
