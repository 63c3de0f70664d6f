// The encryption step alone, over the same compressed dump (pg_dump -Fp | zstd -3): pgwarden's encryptStream
// (openpgp.js in Node, AES-256, no second compression) against `gpg --symmetric --compress-algo none`, and both
// decryptions. Alternating like the main rounds; file to file, so both pay the same reads and writes.
import { createReadStream, createWriteStream, mkdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { execa } from 'execa';
import { decryptStream, encryptStream } from '../activities/pipeline/encrypt.js';
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
  const methods: Array<{ method: string; run: () => Promise<void>; bytes: () => number }> = [
    {
      method: 'pgwarden encryptStream (openpgp.js, AES-256, in Node)',
      run: () => pipeline(createReadStream(input), encryptStream(ctx.passphrase), createWriteStream(pgwardenOut)),
      bytes: () => inputBytes,
    },
    {
      method: 'gpg --symmetric --cipher-algo AES256 --compress-algo none',
      run: async () => check(await execa('gpg', [...gpg, '--symmetric', '--cipher-algo', 'AES256', '--compress-algo', 'none', '-o', gpgOut, input], { reject: false, stdin: 'ignore' }), 'gpg --symmetric'),
      bytes: () => inputBytes,
    },
    {
      method: 'pgwarden decryptStream (openpgp.js, in Node)',
      run: () => pipeline(createReadStream(pgwardenOut), decryptStream(ctx.passphrase, 'bench'), createWriteStream(plainOut)),
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
