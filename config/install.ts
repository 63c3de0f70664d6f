// Where pgwarden is installed: the package root (package.json, README.md) and dist/, where `npm run build` puts the
// JavaScript. Found from this module's own place by walking up to package.json, so that it holds wherever the
// module is: dist/config/ as tsc writes it, or inside a bundle one or two folders down (client/bundle.ts). A path
// taken relative to import.meta.url would move with the bundle.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

function packageRoot(): string {
  const start = dirname(fileURLToPath(import.meta.url));
  for (let dir = start; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    if (dirname(dir) === dir) throw new Error(`pgwarden's package.json was not found above ${start}: reinstall pgwarden (npm ci && npm run build).`);
  }
}

/** The folder that holds pgwarden's package.json. */
export const PACKAGE_ROOT = packageRoot();

/** A path inside dist/: `distPath('client', 'cli.js')`. */
export function distPath(...parts: string[]): string {
  return join(PACKAGE_ROOT, 'dist', ...parts);
}

/** The command line's entry point, which PostgreSQL's archive and restore commands and background helpers run. */
export const CLI_ENTRY = distPath('client', 'cli.js');
