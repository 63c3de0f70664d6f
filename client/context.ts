// What every command gets: the configuration (loaded on first use), the output, and links to the Temporal UI.
import { workflowLink } from '../activities/notify/links.js';
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
    return workflowLink(this.config, workflowId, runId);
  }
}
