// Which build of the command line (client/program.ts) runs a command: its bundle (program.bundle.js, built by
// `npm run build`, client/bundle.ts), which starts in about half the CPU time of the hundreds of modules tsc
// writes, or those modules themselves when there is no bundle (a build by tsc alone).
//
// The commands that run a Temporal worker in their process (`worker`, `demo`) always load the modules tsc wrote:
// the worker loads some of them by path (the payload converter, worker/worker.ts), and those must be the very
// modules its activities use, not a second copy of pgwarden beside a bundle's. @temporalio/worker stays outside the
// bundle (only those two load it); the Temporal client is inside, and nothing in a bundled command loads another copy.
// Node built-ins only: this module is loaded before anything else.
import { lstatSync } from 'node:fs';
import { pathToFileURL, fileURLToPath } from 'node:url';
import { commandOf } from './per-segment.js';

/** The bundle of client/program.ts; in dist/client/ like program.js, so that both are one folder below dist/. */
export const PROGRAM_BUNDLE = fileURLToPath(new URL('./program.bundle.js', import.meta.url));
/** esbuild's metafile of that bundle: which of its files holds which module (the tests read it). */
export const PROGRAM_BUNDLE_META = fileURLToPath(new URL('./program.bundle.meta.json', import.meta.url));
const PROGRAM = fileURLToPath(new URL('./program.js', import.meta.url));

/** Commands that host a Temporal worker: they run from the modules tsc wrote (see above). */
export const UNBUNDLED_COMMANDS = new Set(['worker', 'demo']);

/** The module (a file URL) that runs the command in `args` (the arguments after the script). */
export function programEntry(args: string[]): string {
  const command = commandOf(args);
  if (command !== undefined && UNBUNDLED_COMMANDS.has(command)) return pathToFileURL(PROGRAM).href;
  try {
    lstatSync(PROGRAM_BUNDLE);
    return pathToFileURL(PROGRAM_BUNDLE).href;
  } catch {
    return pathToFileURL(PROGRAM).href;
  }
}
