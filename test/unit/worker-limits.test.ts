// How many dumps and restores a worker takes at once: from the configuration, else from the machine.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { maxConcurrentJobs } from '../../worker/worker.js';

const GiB = 1024 ** 3;
const unset = { worker: {} };

test('one job per core, at most one per 512 MiB beyond the first 256 MiB, at least one', () => {
  assert.equal(maxConcurrentJobs(unset, { cores: 2, memoryBytes: 24 * GiB }), 2, 'this machine: cores decide');
  assert.equal(maxConcurrentJobs(unset, { cores: 16, memoryBytes: 4 * GiB }), 7, 'a small container on a big host: memory decides');
  assert.equal(maxConcurrentJobs(unset, { cores: 8, memoryBytes: 0.5 * GiB }), 1, 'never none');
  assert.equal(maxConcurrentJobs(unset, { cores: 1, memoryBytes: 64 * GiB }), 1);
});

test('worker.maxConcurrentJobs overrides the machine', () => {
  assert.equal(maxConcurrentJobs({ worker: { maxConcurrentJobs: 5 } }, { cores: 2, memoryBytes: 1 * GiB }), 5);
});
