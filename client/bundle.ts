// Bundles the commands PostgreSQL runs once per WAL segment (wal-push, wal-fetch) at build time (npm run build):
// a few files instead of a thousand modules to resolve and read for every segment (client/per-segment.ts runs it).
// What only some runs need is split off and loaded when needed: the repository and encryption (not on wal-push
// --async's answer from the spool), yaml and zod (only when pgwarden.yaml changed: config/cached.ts).
import { readdirSync, rmSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { formatBytes } from '../domain/format.js';
import { WAL_ENTRY_BUNDLE } from './per-segment.js';

const dir = dirname(WAL_ENTRY_BUNDLE); // beside commands/wal.js: relative paths (import.meta.url) hold in the bundle
const stem = basename(WAL_ENTRY_BUNDLE, '.js'); // wal-entry.bundle
for (const file of readdirSync(dir)) if (file.startsWith(`${stem}.`) || file.startsWith(`${stem}-`)) rmSync(join(dir, file)); // an earlier build's chunks

const result = await build({
  entryPoints: { [stem]: fileURLToPath(new URL('./commands/wal-entry.js', import.meta.url)) },
  outdir: dir,
  chunkNames: `${stem}-[hash]`,
  bundle: true,
  splitting: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  // The ES module builds where packages have them (the AWS SDK does): only what the commands use is kept.
  mainFields: ['module', 'main'],
  minify: true,
  // CommonJS packages inside an ES module bundle still call require() for Node's built-ins.
  banner: { js: "import { createRequire as __pgwardenCreateRequire } from 'node:module'; const require = __pgwardenCreateRequire(import.meta.url);" },
  legalComments: 'none',
  logLevel: 'warning',
  metafile: true,
});
const outputs = Object.values(result.metafile.outputs);
console.log(
  `wal-push/wal-fetch bundle: ${WAL_ENTRY_BUNDLE} (${Object.keys(result.metafile.inputs).length} modules in ${outputs.length} files, ` +
    `${formatBytes(result.metafile.outputs[Object.keys(result.metafile.outputs).find((f) => f.endsWith(`${stem}.js`))!]!.bytes)} loaded first, ${formatBytes(outputs.reduce((sum, o) => sum + o.bytes, 0))} in all)`,
);
