import { test } from 'node:test';
import assert from 'node:assert/strict';
import { longestFirst } from '../harness/run-suite.js';

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
