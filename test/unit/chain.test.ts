// Process chains: bytes flow through OS pipes, and a failure names the process that caused it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { chain } from '../../activities/pipeline/chain.js';
import { PgwardenError } from '../../domain/errors.js';

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

test("each process gets its own environment variables, not another step's", async () => {
  const out = await run(
    [
      { command: 'sh', args: ['-c', 'echo "first:${PGPASSWORD:-none}:${ONLY_SECOND:-none}"; cat'], env: { PGPASSWORD: 'step-one-secret' } },
      { command: 'sh', args: ['-c', 'cat; echo "second:${PGPASSWORD:-none}:${ONLY_SECOND:-none}"'], env: { ONLY_SECOND: 'two' } },
    ],
    '',
  );
  assert.equal(out, 'first:step-one-secret:none\nsecond:none:two\n');
});

test('a failure quotes the stderr of the process that failed, and the first step reads `input`', async () => {
  const c = chain(
    [
      { command: 'sh', args: ['-c', 'echo "noise from the reader" >&2; cat'], input: 'rows\n' },
      { command: 'sh', args: ['-c', 'cat >/dev/null; echo "psql: ERROR: relation does not exist" >&2; exit 3'], label: 'psql' },
    ],
    { stdout: 'pipe', stdin: 'ignore' },
  );
  c.stdout!.resume();
  await assert.rejects(c.done, (error: unknown) => {
    assert.match((error as Error).message, /^psql failed \(exit 3\):\n {2}psql: ERROR: relation does not exist$/);
    return true;
  });
});

test('kill() stops every process of the chain, and each step hears that it ended', async () => {
  const marker = `${30 + Math.random()}`;
  const exits: string[] = [];
  const c = chain(
    [
      { command: 'sleep', args: [marker], onExit: () => exits.push('a') },
      { command: 'sleep', args: [marker], onExit: () => exits.push('b') },
    ],
    { stdout: 'ignore', stdin: 'ignore' },
  );
  await new Promise((resolve) => setTimeout(resolve, 300));
  c.kill();
  await assert.rejects(c.done);
  assert.deepEqual(exits.sort(), ['a', 'b']);
  const left = readdirSync('/proc').filter((p) => /^\d+$/.test(p)).filter((p) => {
    try {
      return readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(marker);
    } catch {
      return false;
    }
  });
  assert.deepEqual(left, [], 'no process of the chain outlives kill()');
});
