// Bundles the command line at build time (npm run build): a few files instead of hundreds of modules to resolve
// and read at every start.
// - The commands PostgreSQL runs once per WAL segment (wal-push, wal-fetch: client/per-segment.ts runs them).
//   What only some runs need is split off and loaded when needed: the repository and encryption (not on wal-push
//   --async's answer from the spool), yaml and zod (only when pgwarden.yaml changed: config/cached.ts).
// - Every other command but the worker's (client/program.ts: client/program-entry.ts says which runs where), each
//   command's modules in chunks of their own, loaded when it runs. The Temporal client (@temporalio/client, common,
//   proto: a few hundred CommonJS files) is bundled too: nothing in these processes loads the SDK from node_modules,
//   so the bundle's is the one copy. @temporalio/worker stays outside: only `worker` and `demo` host a worker, and
//   they never run from the bundle. The bundle's metafile (which chunk holds which module) is written beside it.
import { readdirSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { formatBytes } from '../domain/format.js';
import { WAL_ENTRY_BUNDLE } from './per-segment.js';
import { PROGRAM_BUNDLE, PROGRAM_BUNDLE_META } from './program-entry.js';

async function bundle(what: string, entry: string, output: string, external: string[] = [], metafile?: string): Promise<void> {
  const dir = dirname(output);
  const stem = basename(output, '.js');
  for (const file of readdirSync(dir)) if (file.startsWith(`${stem}.`) || file.startsWith(`${stem}-`)) rmSync(join(dir, file)); // an earlier build's chunks
  const result = await build({
    entryPoints: { [stem]: fileURLToPath(new URL(entry, import.meta.url)) },
    outdir: dir,
    chunkNames: `${stem}-[hash]`,
    bundle: true,
    splitting: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    external,
    // The ES module builds where packages have them (the AWS SDK does): only what the commands use is kept.
    mainFields: ['module', 'main'],
    minify: true,
    // CommonJS packages inside an ES module bundle still call require() for Node's built-ins.
    banner: { js: "import { createRequire as __pgwardenCreateRequire } from 'node:module'; const require = __pgwardenCreateRequire(import.meta.url);" },
    legalComments: 'none',
    logLevel: 'warning',
    metafile: true,
  });
  if (metafile) writeFileSync(metafile, JSON.stringify(result.metafile));
  const outputs = Object.values(result.metafile.outputs);
  const first = result.metafile.outputs[Object.keys(result.metafile.outputs).find((f) => f.endsWith(`${stem}.js`))!]!;
  console.log(
    `${what} bundle: ${output} (${Object.keys(result.metafile.inputs).length} modules in ${outputs.length} files, ` +
      `${formatBytes(first.bytes)} loaded first, ${formatBytes(outputs.reduce((sum, o) => sum + o.bytes, 0))} in all)`,
  );
}

// Beside commands/wal.js and client/program.js: the paths their modules take from import.meta.url hold in the bundles.
await bundle('wal-push/wal-fetch', './commands/wal-entry.js', WAL_ENTRY_BUNDLE);
await bundle('command line', './program.js', PROGRAM_BUNDLE, ['@temporalio/worker', '@temporalio/testing', '@temporalio/core-bridge', 'pg-native'], PROGRAM_BUNDLE_META);
