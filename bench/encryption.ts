// The encryption step alone, over the same compressed dump (pg_dump -Fp | zstd -3): pgwarden's encryption step
// (gpg in a process chain fed from Node: AES-256 under a backup's data key on fd 3, no second compression) against a plain
// `gpg --symmetric --compress-algo none` of the file, and both decryptions. Alternating like the main rounds.
import { createReadStream, createWriteStream, mkdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { execa } from 'execa';
import { chain } from '../activities/pipeline/chain.js';
import { newDataKey } from '../activities/keys/data-key.js';
import { decryptStep, encryptStep } from '../activities/pipeline/encrypt.js';
import type { BenchContext } from './context.js';
import { check, median, now, settle, stopGpgAgent, warmUpGpg } from './util.js';

export interface EncryptionRow {
  method: string;
  inputBytes: number;
  runsMs: number[];
  medianMs: number;
}

export async function measureEncryption(ctx: BenchContext, input: string, runs: number): Promise<EncryptionRow[]> {
  const dir = join(ctx.root, 'encryption');
  mkdirSync(dir, { recursive: true });
  const gpgHome = join(dir, 'gnupg');
  mkdirSync(gpgHome, { mode: 0o700 });
  const gpg = ['--homedir', gpgHome, '--batch', '--quiet', '--yes', '--pinentry-mode', 'loopback', '--passphrase-file', ctx.passphraseFile];
  const pgwardenOut = join(dir, 'pgwarden.gpg');
  const gpgOut = join(dir, 'gpg.gpg');
  const plainOut = join(dir, 'plain.out');
  const inputBytes = statSync(input).size;
  await warmUpGpg(gpg, dir);
  const dataKey = newDataKey(); // what the data path encrypts objects with (envelope encryption)
  const methods: Array<{ method: string; run: () => Promise<void>; bytes: () => number }> = [
    {
      method: "pgwarden's encryption step (gpg in a chain, fed and drained by Node)",
      run: () => throughChain(encryptStep(dataKey, 'data-key'), input, pgwardenOut),
      bytes: () => inputBytes,
    },
    {
      method: 'gpg --symmetric --cipher-algo AES256 --compress-algo none',
      run: async () => check(await execa('gpg', [...gpg, '--symmetric', '--cipher-algo', 'AES256', '--compress-algo', 'none', '-o', gpgOut, input], { reject: false, stdin: 'ignore' }), 'gpg --symmetric'),
      bytes: () => inputBytes,
    },
    {
      method: "pgwarden's decryption step (gpg in a chain, fed and drained by Node)",
      run: () => throughChain(decryptStep(dataKey, 'bench'), pgwardenOut, plainOut),
      bytes: () => inputBytes,
    },
    {
      method: 'gpg --decrypt',
      run: async () => check(await execa('gpg', [...gpg, '--decrypt', '-o', plainOut, gpgOut], { reject: false, stdin: 'ignore' }), 'gpg --decrypt'),
      bytes: () => inputBytes,
    },
  ];
  const times = new Map<string, number[]>(methods.map((m) => [m.method, []]));
  try {
    for (let round = 0; round < runs; round += 1) {
      for (const m of methods) {
        await settle();
        const started = now();
        await m.run();
        times.get(m.method)!.push(now() - started);
        if (statSync(plainOut, { throwIfNoEntry: false }) && statSync(plainOut).size !== inputBytes) {
          throw new Error(`${m.method} gave back ${statSync(plainOut).size} bytes, not the ${inputBytes} encrypted`);
        }
        rmSync(plainOut, { force: true });
      }
    }
  } finally {
    await stopGpgAgent(gpgHome);
    rmSync(dir, { recursive: true, force: true });
  }
  return methods.map((m) => ({ method: m.method, inputBytes: m.bytes(), runsMs: times.get(m.method)!, medianMs: median(times.get(m.method)!)! }));
}

/** Runs one pgwarden step the way the data path does: Node writes its stdin and reads its stdout. */
async function throughChain(step: Parameters<typeof chain>[0][number], from: string, to: string): Promise<void> {
  const run = chain([step], { stdout: 'pipe' });
  await Promise.all([pipeline(createReadStream(from), run.stdin), pipeline(run.stdout!, createWriteStream(to)), run.done]);
}
