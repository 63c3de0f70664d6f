// Which build of the command line runs a command (client/program-entry.ts): every command but the worker's runs
// from the bundle `npm run build` makes (a third less CPU at each start), with @temporalio/* from node_modules; the
// commands that host a Temporal worker run the modules tsc wrote. Node's module hooks see every module loaded.
// No server is needed: the commands fail at the configuration, after their modules have loaded.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { PROGRAM_BUNDLE } from '../../client/program-entry.js';
import { distPath } from '../../config/install.js';
import { CLI } from '../harness/archiving.js';

let dir: string;
let hooks: string;

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'pgwarden-test-cli-bundle-'));
  hooks = join(dir, 'hooks');
  mkdirSync(hooks);
  writeFileSync(join(hooks, 'register.mjs'), "import { register } from 'node:module';\nregister('./load.mjs', import.meta.url);\n");
  writeFileSync(join(hooks, 'load.mjs'), "import { appendFileSync } from 'node:fs';\nexport async function load(url, context, next) {\n  if (url.startsWith('file:')) appendFileSync(process.env.LOADED, `${url}\\n`);\n  return next(url, context);\n}\n");
  writeFileSync(join(dir, 'pgwarden.yaml'), 'temporal: { address: 127.0.0.1:1 }\n'); // no repositories, no databases: invalid
});

after(() => rmSync(dir, { recursive: true, force: true }));

/** Runs the CLI with `args`; returns its result and the files (URLs) it loaded, from dist/ or node_modules. */
async function loadedBy(args: string[]) {
  const loaded = join(dir, `loaded-${args[0]}.txt`);
  writeFileSync(loaded, '');
  const run = await execa(process.execPath, ['--import', join(hooks, 'register.mjs'), CLI, '--config', join(dir, 'pgwarden.yaml'), ...args], { reject: false, all: true, env: { LOADED: loaded } });
  return { run, files: readFileSync(loaded, 'utf8').split('\n').filter(Boolean) };
}

const ownModules = (files: string[]) => files.filter((f) => f.includes('/dist/') && !f.includes('/node_modules/'));
const bundleStem = PROGRAM_BUNDLE.replace(/\.js$/, '');

test('the build made the bundle', () => {
  assert.ok(existsSync(PROGRAM_BUNDLE), `${PROGRAM_BUNDLE} is missing: npm run build makes it (client/bundle.ts)`);
});

for (const args of [['backups', 'list', '--db', 'shop'], ['backup', '--db', 'shop'], ['status']]) {
  test(`\`pgwarden ${args.join(' ')}\` runs from the bundle: no module of dist/ but the entry and its dispatchers; the SDK from node_modules`, async () => {
    const { run, files } = await loadedBy(args);
    assert.equal(run.exitCode, 3, `a configuration error (exit 3), after the modules loaded: ${run.all}`);
    assert.match(run.all ?? '', /is invalid/);
    const others = ownModules(files).filter((f) => !f.endsWith('/client/cli.js') && !f.endsWith('/client/per-segment.js') && !f.endsWith('/client/program-entry.js') && !f.includes(bundleStem));
    assert.deepEqual(others, [], 'only the entry, its dispatchers and the bundle (with its chunks) are loaded from dist/');
    assert.ok(files.some((f) => f.endsWith('/client/program.bundle.js')), 'the bundle ran');
  });
}

test('`pgwarden backups list` (storage only) does not load the Temporal client', async () => {
  const { files } = await loadedBy(['backups', 'list', '--db', 'shop']);
  assert.deepEqual(files.filter((f) => f.includes('/node_modules/@temporalio/client/')), []);
});

test('`pgwarden worker` runs the modules tsc wrote, never the bundle: its activities and the payload converter it loads by path are one copy', async () => {
  const { run, files } = await loadedBy(['worker']);
  assert.equal(run.exitCode, 3, run.all);
  assert.ok(files.includes(`file://${distPath('client', 'program.js')}`), 'program.js ran');
  assert.deepEqual(files.filter((f) => f.includes(bundleStem)), [], 'nothing of the bundle');
});
