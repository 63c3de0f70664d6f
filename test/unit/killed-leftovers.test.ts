// What a process killed with -9 leaves on the host is taken away by the next one, and nothing of a live one is.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';

const DUMP = new URL('../../activities/postgres/dump.js', import.meta.url).href;

/**
 * A process (as a worker's activity would) that builds the copy-out steps of a backup stream, which makes its
 * pgwarden-copy-* directory, says so, and then waits (`hold`) or runs psql's exit handler and ends.
 */
function copyOutProcess(base: string, hold: boolean) {
  const script = `
    const { copyOutSteps } = await import(${JSON.stringify(DUMP)});
    const steps = copyOutSteps('psql', { name: 'data', role: 'data', format: 'plain', args: [], copies: [{ table: { name: 'public.t' } }], tables: ['public.t'] },
      new Map([['public.t', ['id']]]), 'UTF8', '00000003-00000002-1', {}, {});
    process.stdout.write('made\\n');
    if (${hold}) setInterval(() => undefined, 1000); else steps[0].onExit?.();`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { env: { ...process.env, TMPDIR: base }, stdio: ['ignore', 'pipe', 'inherit'] });
  const made = new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => chunk.toString().includes('made') && resolve());
    child.once('exit', (code) => reject(new Error(`the copy-out process ended (${code}) before it made its directory`)));
  });
  return { child, made };
}

const copyDirs = (base: string) => readdirSync(base).filter((name) => name.startsWith('pgwarden-copy-'));

test('copy-out directories of a process killed with -9 are removed by the next backup stream, those of live ones kept', async () => {
  const base = mkdtempSync(join(tmpdir(), 'pgwarden-test-leftovers-'));
  const live = copyOutProcess(base, true);
  try {
    await live.made;
    const [liveDir] = copyDirs(base);
    const killed = copyOutProcess(base, true);
    await killed.made;
    const killedDir = copyDirs(base).find((name) => name !== liveDir)!;
    assert.ok(killedDir, 'the second process made its own directory');
    killed.child.kill('SIGKILL');
    await once(killed.child, 'exit').catch(() => undefined);
    assert.deepEqual(copyDirs(base).sort(), [liveDir, killedDir].sort(), 'kill -9 ran no clean-up');

    // The restarted worker's next backup stream, which ends normally.
    const next = copyOutProcess(base, false);
    await next.made;
    await once(next.child, 'exit');
    assert.deepEqual(copyDirs(base), [liveDir], "the killed process's directory is gone, the live one's is kept, the finished one removed its own");
  } finally {
    live.child.kill('SIGKILL');
    rmSync(base, { recursive: true, force: true });
  }
});
