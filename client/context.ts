// What every command gets: the configuration (loaded on first use), the output, and links to the Temporal UI.
import { configPath, loadConfig } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { Output } from './output.js';

export class CommandContext {
  private loaded: Config | undefined;

  constructor(
    readonly out: Output,
    private readonly explicitConfig?: string,
  ) {}

  get configFile(): string {
    return configPath(this.explicitConfig);
  }

  get config(): Config {
    this.loaded ??= loadConfig(this.configFile);
    return this.loaded;
  }

  /** The run's page in the Temporal UI, when we know where the UI is. */
  workflowLink(workflowId: string, runId: string): string | undefined {
    const t = this.config.temporal;
    const ui = t.ui ?? (/^(localhost|127\.0\.0\.1):7233$/.test(t.address) ? 'http://localhost:8233' : undefined);
    if (!ui) return undefined;
    return `${ui.replace(/\/$/, '')}/namespaces/${encodeURIComponent(t.namespace)}/workflows/${encodeURIComponent(workflowId)}/${runId}/history`;
  }
}
