import { test } from 'node:test';
import assert from 'node:assert/strict';
import { childrenCpuMs, longestFirst, mayStart } from '../harness/run-suite.js';

// The suite's wall time is its file time divided by the slots only when the long files start first.
test('files are ordered by their own time: two files of one name in two folders are not confused', () => {
  const files = ['dist/test/workflows/pitr.test.js', 'dist/test/integration/pitr.test.js', 'dist/test/unit/new.test.js', 'dist/test/integration/cli.test.js'];
  const times = { 'integration/pitr.test.js': 105_000, 'workflows/pitr.test.js': 13_000, 'integration/cli.test.js': 41_000 };
  assert.deepEqual(longestFirst(files, times), [
    'dist/test/unit/new.test.js', // unknown: it may be long
    'dist/test/integration/pitr.test.js',
    'dist/test/integration/cli.test.js',
    'dist/test/workflows/pitr.test.js',
  ]);
});

// Past N files at once only while the CPU idles: the long files mostly wait; the short ones at the end do not.
test('a file starts below N always; past N only while the CPU has been idle, one every few seconds, up to M', () => {
  const slots = { concurrency: 4, maxConcurrency: 7, msSinceLastStart: 10_000 };
  assert.equal(mayStart({ ...slots, running: 3, idle: 0 }), true, 'below N, whatever the CPU');
  assert.equal(mayStart({ ...slots, running: 4, idle: 0.1 }), false, 'N running, CPU busy');
  assert.equal(mayStart({ ...slots, running: 4, idle: 0.5 }), true, 'N running, CPU half idle');
  assert.equal(mayStart({ ...slots, running: 5, idle: 0.5, msSinceLastStart: 1_000 }), false, 'the last one started a second ago');
  assert.equal(mayStart({ ...slots, running: 7, idle: 0.9 }), false, 'M running');
  assert.equal(mayStart({ ...slots, maxConcurrency: 4, running: 4, idle: 0.9 }), false, 'no M given: N is the limit');
});

test("a file's CPU time is read from the shell's `times` (dash and bash print it alike)", () => {
  assert.equal(childrenCpuMs('0m0.001000s 0m0.002000s\n1m2.500000s 0m0.250000s\n'), 62_750);
  assert.equal(childrenCpuMs('0m0.00s 0m0.00s\n0m3.21s 0m1.01s'), 4_220);
  assert.equal(childrenCpuMs(''), undefined, 'the shell was killed before it could say');
});
