// The floor plan, read from the source's own imports: each folder stands only on the folders below it, and no
// two files reach each other through a chain of imports. `type` imports count too: they tie modules together.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../../', import.meta.url));

/** From the ground floor up: a folder may import its own files and any folder before it in this list, never one after. */
const FLOORS = ['domain', 'config', 'activities', 'workflows', 'worker', 'client', 'bench'] as const;

function sourceFiles(dir: string): string[] {
  return readdirSync(join(root, dir), { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts') ? [path] : [];
  });
}

/** The repository-relative .ts files a source file imports (static, re-exports and import() with a literal). */
function importsOf(file: string, text: string): string[] {
  const specifiers = [
    ...text.matchAll(/^\s*(?:import|export)\s[^;]*?\sfrom\s+'([^']+)'/gms),
    ...text.matchAll(/^\s*import\s+'([^']+)'/gm),
    ...text.matchAll(/\bimport\(\s*'([^']+)'\s*\)/g),
  ].map((match) => match[1]!);
  return specifiers
    .filter((specifier) => specifier.startsWith('.'))
    .map((specifier) => relative(root, resolve(root, dirname(file), specifier)).replace(/\.js$/, '.ts'));
}

const files = FLOORS.flatMap((floor) => sourceFiles(floor));
const graph = new Map(files.map((file) => [file, importsOf(file, readFileSync(join(root, file), 'utf8')).filter((target) => files.includes(target))]));
const floorOf = (file: string) => FLOORS.indexOf(file.split('/')[0] as (typeof FLOORS)[number]);

test('the reader sees every kind of import (a check that reads nothing proves nothing)', () => {
  const sample = [
    "import { a } from './a.js';",
    "import type {\n  B,\n} from '../b/b.js';",
    "export { c } from './c.js';",
    "const d = await import('./d.js');",
    "import { e } from 'node:fs';",
  ].join('\n');
  assert.deepEqual(importsOf('client/x.ts', sample), ['client/a.ts', 'b/b.ts', 'client/c.ts', 'client/d.ts']);
  assert.ok(files.length > 100, `only ${files.length} source files found under ${FLOORS.join(', ')}`);
  assert.ok([...graph.values()].flat().length > 300, 'almost no imports were read');
});

test('no import runs back up a floor: domain <- config <- activities <- workflows <- worker <- client <- bench', () => {
  const upward = [...graph].flatMap(([file, targets]) =>
    targets.filter((target) => floorOf(target) > floorOf(file)).map((target) => `${file} -> ${target}`),
  );
  assert.deepEqual(upward, [], `imports that run back up:\n${upward.join('\n')}`);
});

test('no circles: no two files reach each other through their imports', () => {
  // Tarjan's strongly connected components: any component of more than one file is a circle.
  let counter = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const circles: string[][] = [];
  const visit = (file: string): void => {
    index.set(file, counter);
    low.set(file, counter++);
    stack.push(file);
    onStack.add(file);
    for (const target of graph.get(file) ?? []) {
      if (!index.has(target)) {
        visit(target);
        low.set(file, Math.min(low.get(file)!, low.get(target)!));
      } else if (onStack.has(target)) low.set(file, Math.min(low.get(file)!, index.get(target)!));
    }
    if (low.get(file) === index.get(file)) {
      const component: string[] = [];
      let member: string;
      do {
        member = stack.pop()!;
        onStack.delete(member);
        component.push(member);
      } while (member !== file);
      if (component.length > 1) circles.push(component.sort());
    }
  };
  for (const file of graph.keys()) if (!index.has(file)) visit(file);
  assert.deepEqual(circles, [], `circles:\n${circles.map((c) => c.join(' <-> ')).join('\n')}`);
});
