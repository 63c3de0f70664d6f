// What a process killed with -9 leaves on the host is taken away by the next one, and nothing of a live one is.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { newDataKey } from '../../activities/keys/data-key.js';
import { inspectKey, wrapSecret } from '../../activities/keys/openpgp.js';
import { makeKey } from '../harness/keys.js';

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

const OPENPGP = new URL('../../activities/keys/openpgp.js', import.meta.url).href;

/** gpg-agent processes whose command line names a home under `base`. */
function agentsUnder(base: string): string[] {
  return readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .filter((pid) => {
      try {
        const args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
        return args.some((a) => a.endsWith('gpg-agent')) && args.some((a) => a.startsWith(base));
      } catch {
        return false;
      }
    });
}

/** A process that opens a wrapped data key with a private key (its own GnuPG home and agent), then waits or closes. */
function privateKeyProcess(base: string, keyFile: string, wrapped: string, hold: boolean) {
  const script = `
    const { readFileSync } = await import('node:fs');
    const { inspectKey, PrivateKeySession } = await import(${JSON.stringify(OPENPGP)});
    const session = new PrivateKeySession(await inspectKey(readFileSync(${JSON.stringify(keyFile)}, 'utf8'), 'key'), undefined, 'key');
    if (!(await session.unwrap(readFileSync(${JSON.stringify(wrapped)})))) throw new Error('not opened');
    process.stdout.write('made\\n');
    if (${hold}) setInterval(() => undefined, 1000); else await session.close();`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { env: { ...process.env, TMPDIR: base }, stdio: ['ignore', 'pipe', 'inherit'] });
  const made = new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => chunk.toString().includes('made') && resolve());
    child.once('exit', (code) => reject(new Error(`the private-key process ended (${code}) before it opened the key`)));
  });
  return { child, made };
}

test("a private key's GnuPG home and agent left by a process killed with -9 are taken away by the next session", async () => {
  const key = await makeKey('unit leftovers');
  const base = mkdtempSync(join(tmpdir(), 'pgwarden-test-leftovers-'));
  try {
    const wrapped = join(base, 'datakey.asc');
    writeFileSync(wrapped, await wrapSecret(newDataKey(), { recipients: [await inspectKey(readFileSync(key.publicFile, 'utf8'), 'public')] }));
    const homes = () => readdirSync(base).filter((name) => name.startsWith('pgwarden-private-key-'));
    const killed = privateKeyProcess(base, key.privateFile, wrapped, true);
    await killed.made;
    killed.child.kill('SIGKILL');
    await once(killed.child, 'exit').catch(() => undefined);
    assert.equal(homes().length, 1, 'kill -9 left the home (with the imported private key)');
    assert.equal(agentsUnder(base).length, 1, 'and its agent');

    const next = privateKeyProcess(base, key.privateFile, wrapped, false);
    await next.made;
    await once(next.child, 'exit');
    assert.deepEqual(homes(), [], 'the home is gone');
    assert.deepEqual(agentsUnder(base), [], 'and no agent runs for it');
  } finally {
    for (const pid of agentsUnder(base)) process.kill(Number(pid), 'SIGTERM');
    rmSync(base, { recursive: true, force: true });
    rmSync(join(key.publicFile, '..'), { recursive: true, force: true });
  }
});
