// The test suite's runner (`npm test`): one Temporal dev server for every test file (each file works in a
// namespace of its own, test/harness/temporal.ts), files side by side (node --test runs them in name order).
// Usage: node dist/test/harness/run-suite.js [--concurrency N] <test files…>
import { spawn } from 'node:child_process';
import { SHARED_TEMPORAL_ENV, startDevServer } from './temporal.js';

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

const temporal = await startDevServer();
let code: number;
try {
  const child = spawn(process.execPath, ['--test', `--test-concurrency=${concurrency}`, ...args], {
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
