// Builds pgwarden configurations for tests, with secrets in environment variables as in production.
import { parseConfig } from '../../config/load.js';
import type { Config, ConfigInput } from '../../config/schema.js';

let counter = 0;

/** Puts `value` into a fresh environment variable and returns its name. */
export function secretEnv(value: string, stem = 'PGWARDEN_TEST_SECRET'): string {
  counter += 1;
  const name = `${stem}_${process.pid}_${counter}`;
  process.env[name] = value;
  return name;
}

export function testConfig(input: ConfigInput): Config {
  return parseConfig(input, 'test config');
}
