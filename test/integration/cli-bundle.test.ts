// Which build of the command line runs a command (client/program-entry.ts): every command but the worker's runs
// from the bundle `npm run build` makes (a third less CPU at each start), the Temporal client inside it and nothing of
// @temporalio/* from node_modules; the commands that host a Temporal worker run the modules tsc wrote. Node's module
// hooks see every module loaded; the bundle's metafile says which of its files holds which module.
// No server is needed: the commands fail at the configuration, after their modules have loaded.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { execa } from 'execa';
import { PROGRAM_BUNDLE, PROGRAM_BUNDLE_META } from '../../client/program-entry.js';
import { distPath } from '../../config/install.js';
import { CLI } from '../harness/archiving.js';
import { recordModuleLoads } from '../harness/module-loads.js';

let dir: string;

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'pgwarden-test-cli-bundle-'));
  writeFileSync(join(dir, 'pgwarden.yaml'), 'temporal: { address: 127.0.0.1:1 }\n'); // no repositories, no databases: invalid
});

after(() => rmSync(dir, { recursive: true, force: true }));

/** Runs the CLI with `args`; returns its result and the files (URLs) it loaded, from dist/ or node_modules. */
async function loadedBy(args: string[]) {
  const loads = recordModuleLoads(join(dir, 'hooks'), args[0]!);
  const run = await execa(process.execPath, [...loads.nodeArgs, CLI, '--config', join(dir, 'pgwarden.yaml'), ...args], { reject: false, all: true, env: loads.env });
  return { run, files: loads.loaded() };
}

const ownModules = (files: string[]) => files.filter((f) => f.includes('/dist/') && !f.includes('/node_modules/'));
const bundleStem = PROGRAM_BUNDLE.replace(/\.js$/, '');
const fromSdk = (files: string[]) => files.filter((f) => f.includes('/node_modules/@temporalio/'));

/** The bundle's files (by name) that hold a module whose path includes `fragment`, from the build's metafile. */
function bundleFilesHolding(fragment: string): string[] {
  const meta = JSON.parse(readFileSync(PROGRAM_BUNDLE_META, 'utf8')) as { outputs: Record<string, { inputs: Record<string, unknown> }> };
  return Object.entries(meta.outputs)
    .filter(([, output]) => Object.keys(output.inputs).some((input) => input.includes(fragment)))
    .map(([file]) => basename(file));
}

test('the build made the bundle', () => {
  assert.ok(existsSync(PROGRAM_BUNDLE), `${PROGRAM_BUNDLE} is missing: npm run build makes it (client/bundle.ts)`);
});

for (const args of [['backups', 'list', '--db', 'shop'], ['backup', '--db', 'shop'], ['status']]) {
  test(`\`pgwarden ${args.join(' ')}\` runs from the bundle: no module of dist/ but the entry and its dispatchers, none of @temporalio/* from node_modules`, async () => {
    const { run, files } = await loadedBy(args);
    assert.equal(run.exitCode, 3, `a configuration error (exit 3), after the modules loaded: ${run.all}`);
    assert.match(run.all ?? '', /is invalid/);
    const others = ownModules(files).filter((f) => !f.endsWith('/client/cli.js') && !f.endsWith('/client/per-segment.js') && !f.endsWith('/client/program-entry.js') && !f.includes(bundleStem));
    assert.deepEqual(others, [], 'only the entry, its dispatchers and the bundle (with its chunks) are loaded from dist/');
    assert.ok(files.some((f) => f.endsWith('/client/program.bundle.js')), 'the bundle ran');
    assert.deepEqual(fromSdk(files), [], 'the Temporal SDK (where used) comes from the bundle: one copy');
  });
}

test('`pgwarden status` loads the Temporal client, from the bundle', async () => {
  const holders = bundleFilesHolding('node_modules/@temporalio/client/');
  assert.ok(holders.length > 0, `the metafile names the bundle's files that hold @temporalio/client: ${PROGRAM_BUNDLE_META}`);
  const { files } = await loadedBy(['status']);
  assert.ok(files.some((f) => holders.includes(basename(f))), `status loaded one of ${holders.join(', ')}`);
  assert.deepEqual(fromSdk(files), []);
});

test('`pgwarden backups list` (storage only) does not load the Temporal client', async () => {
  const holders = bundleFilesHolding('node_modules/@temporalio/client/');
  assert.ok(holders.length > 0, `the metafile names the bundle's files that hold @temporalio/client: ${PROGRAM_BUNDLE_META}`);
  const { files } = await loadedBy(['backups', 'list', '--db', 'shop']);
  assert.deepEqual(files.filter((f) => holders.includes(basename(f)) || f.includes('/node_modules/@temporalio/client/')), []);
});

test('`pgwarden worker` runs the modules tsc wrote, never the bundle: its activities and the payload converter it loads by path are one copy', async () => {
  const { run, files } = await loadedBy(['worker']);
  assert.equal(run.exitCode, 3, run.all);
  assert.ok(files.includes(`file://${distPath('client', 'program.js')}`), 'program.js ran');
  assert.deepEqual(files.filter((f) => f.includes(bundleStem)), [], 'nothing of the bundle');
});
