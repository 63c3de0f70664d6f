// Process chains: bytes flow through OS pipes, and a failure names the process that caused it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chain } from '../../activities/pipeline/chain.js';
import { PgwardenError } from '../../config/errors.js';

async function run(steps: Parameters<typeof chain>[0], input: string) {
  const c = chain(steps, { stdout: 'pipe' });
  const out: Buffer[] = [];
  c.stdout!.on('data', (b: Buffer) => out.push(b));
  c.stdin.end(input);
  await c.done;
  return Buffer.concat(out).toString();
}

test('joins processes with pipes', async () => {
  assert.equal(await run([{ command: 'tr', args: ['a-z', 'A-Z'] }, { command: 'rev', args: [] }], 'pgwarden\n'), 'NEDRAWGP\n');
});

test('the process that failed is named, not the one that lost its pipe', async () => {
  await assert.rejects(
    run(
      [
        { command: 'sh', args: ['-c', 'echo "zstd: data corrupted" >&2; exit 1'], label: 'zstd (decompress)' },
        { command: 'cat', args: [] },
      ],
      'x',
    ),
    (error: unknown) => {
      assert.ok(error instanceof PgwardenError);
      assert.match(error.message, /^zstd \(decompress\) failed \(exit 1\):\n {2}zstd: data corrupted/);
      return true;
    },
  );
});

test('a missing program says what to install', async () => {
  await assert.rejects(run([{ command: 'pgwarden-no-such-tool', args: [] }], 'x'), (error: unknown) => error instanceof PgwardenError && error.kind === 'Config' && /is not installed/.test(error.message));
});

test('a secret on fd 3 never appears in the arguments', async () => {
  assert.equal(await run([{ command: 'sh', args: ['-c', 'read -r secret <&3; echo "got $secret"'], fd3: 'hunter2' }], ''), 'got hunter2\n');
});
