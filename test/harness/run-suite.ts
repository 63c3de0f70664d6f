// The test suite's runner (`npm test`): one Temporal dev server for every test file (each file works in a
// namespace of its own, test/harness/temporal.ts), files side by side, the slowest started first.
// Usage: node dist/test/harness/run-suite.js [--concurrency N] <test files…>
import { spawn } from 'node:child_process';
import { basename } from 'node:path';
import { SHARED_TEMPORAL_ENV, startDevServer } from './temporal.js';

/**
 * The real-stack files that take longest (measured on a 2-core machine), started first so that the last minutes
 * are not one long file running alone. The rest keep the order they were given in.
 */
const SLOWEST_FIRST = [
  'restore-safety', 'premigration', 'pitr', 'encryption', 'neon', 'worker-takeover', 'pitr-workers', 'monitoring',
  'cli-waiting', 'retention-safety', 'host-security', 'backup-restore', 'verify-drill', 'tls', 'wal-archive',
];

const args = process.argv.slice(2);
let concurrency = 3;
if (args[0] === '--concurrency') {
  concurrency = Number(args[1]);
  args.splice(0, 2);
}
if (!Number.isInteger(concurrency) || concurrency < 1 || args.length === 0) {
  console.error('usage: run-suite.js [--concurrency N] <test files…>');
  process.exit(2);
}
const rank = (file: string) => {
  const i = SLOWEST_FIRST.indexOf(basename(file).replace(/\.test\.js$/, ''));
  return i === -1 ? SLOWEST_FIRST.length : i;
};
const files = args.map((file, i) => ({ file, i })).sort((a, b) => rank(a.file) - rank(b.file) || a.i - b.i).map((f) => f.file);

const temporal = await startDevServer();
let code: number;
try {
  const child = spawn(process.execPath, ['--test', `--test-concurrency=${concurrency}`, ...files], {
    stdio: 'inherit',
    env: { ...process.env, [SHARED_TEMPORAL_ENV]: temporal.address },
  });
  const forward = (signal: NodeJS.Signals) => child.kill(signal);
  process.on('SIGINT', forward).on('SIGTERM', forward);
  code = await new Promise<number>((resolve) => child.once('exit', (status, signal) => resolve(status ?? (signal ? 1 : 0))));
} finally {
  await temporal.teardown();
}
process.exit(code);
