// wal-push and wal-fetch as PostgreSQL starts them, once per WAL segment: the same arguments, output and exit codes
// as the full CLI's, from a program that knows only these two commands. `npm run build` bundles this module with
// everything it loads into wal-entry.bundle.js (one file: no module resolution per segment); client/cli.ts hands
// these commands to it before loading anything else.
import { statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError } from 'commander';
import { loadConfigCached } from '../../config/cached.js';
import { EXIT_CODES, PgwardenError } from '../../domain/errors.js';
import { configPath } from '../../config/path.js';
import type { Config } from '../../config/schema.js';
import { Output } from '../output.js';
import { declareWalFetch, declareWalPush } from '../wal-commands.js';
import { walFetchCommand, walPushCommand, type WalCommandContext } from './wal.js';

type Action = (ctx: WalCommandContext, options: never) => Promise<void>;

/** The configuration, validated once per change of the file or of this build (config/cached.ts), not per segment. */
class SegmentContext implements WalCommandContext {
  private loaded: Promise<Config> | undefined;

  constructor(
    readonly out: Output,
    readonly configFile: string,
  ) {}

  loadConfig(cacheDir: string): Promise<Config> {
    this.loaded ??= loadConfigCached(this.configFile, cacheDir, thisBuild());
    return this.loaded;
  }
}

/** Which pgwarden validated a cached configuration: this file (the bundle, rewritten by every build) as it is now. */
function thisBuild(): string {
  const self = statSync(fileURLToPath(import.meta.url));
  return `${self.size}:${self.mtimeMs}:${self.ino}`;
}

/** `args`: the arguments after the script, as in `pgwarden --config FILE wal-push --db NAME %p`. */
export async function runWalCommand(args: string[]): Promise<void> {
  // The global options as client/program.ts declares them.
  const program = new Command('pgwarden')
    .option('-c, --config <file>', 'configuration file (default: $PGWARDEN_CONFIG or ./pgwarden.yaml)')
    .option('--json', 'print one JSON object on stdout (for scripts)', false)
    .showHelpAfterError('(pgwarden --help lists the commands)')
    .exitOverride();
  const run = (action: Action) => async (...received: unknown[]) => {
    const command = received.at(-1) as Command;
    const options = { ...(received.at(-2) as object), args: received.slice(0, -2) };
    const globals = command.optsWithGlobals<{ config?: string; json: boolean }>();
    const ctx = new SegmentContext(new Output(globals.json), configPath(globals.config));
    try {
      await action(ctx, options as never);
      process.exitCode ??= EXIT_CODES.ok; // wal-fetch sets its own (1 = not archived)
    } catch (error) {
      process.exitCode = ctx.out.failure(error);
    }
  };
  declareWalPush(program).action(run(walPushCommand as Action));
  declareWalFetch(program).action(run(walFetchCommand as Action));
  try {
    await program.parseAsync(args, { from: 'user' });
  } catch (error) {
    if (error instanceof CommanderError) {
      const informational = ['commander.helpDisplayed', 'commander.version', 'commander.help'].includes(error.code);
      process.exitCode = informational ? 0 : EXIT_CODES.Usage;
      if (!informational && args.includes('--json')) new Output(true).failure(new PgwardenError('Usage', error.message.replace(/^error: /, '')));
    } else {
      process.exitCode = new Output(args.includes('--json')).failure(error instanceof Error ? error : new PgwardenError('Failed', String(error)));
    }
  }
}
