// Where pgwarden.yaml is (Node built-ins only: the per-segment commands ask before loading anything else).
import { resolve } from 'node:path';

export const DEFAULT_CONFIG_FILE = 'pgwarden.yaml';

/** --config, else $PGWARDEN_CONFIG, else ./pgwarden.yaml. */
export function configPath(explicit?: string): string {
  return resolve(explicit ?? process.env.PGWARDEN_CONFIG ?? DEFAULT_CONFIG_FILE);
}
