// What modules a command loads: Node's module hooks (--import) write the URL of every file it loads to a list.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface ModuleLoads {
  /** The arguments for node (before the script) and the environment that record the loads. */
  nodeArgs: string[];
  env: Record<string, string>;
  /** The file URLs loaded since this recording was made. */
  loaded(): string[];
}

/** A fresh recording in `dir` (made if missing) under `name`. */
export function recordModuleLoads(dir: string, name: string): ModuleLoads {
  mkdirSync(dir, { recursive: true });
  const register = join(dir, 'register.mjs');
  writeFileSync(register, "import { register } from 'node:module';\nregister('./load.mjs', import.meta.url);\n");
  writeFileSync(join(dir, 'load.mjs'), "import { appendFileSync } from 'node:fs';\nexport async function load(url, context, next) {\n  if (url.startsWith('file:')) appendFileSync(process.env.LOADED, `${url}\\n`);\n  return next(url, context);\n}\n");
  const list = join(dir, `loaded-${name}.txt`);
  writeFileSync(list, '');
  return { nodeArgs: ['--import', register], env: { LOADED: list }, loaded: () => readFileSync(list, 'utf8').split('\n').filter(Boolean) };
}
