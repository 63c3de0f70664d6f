// Compensation of a failed point-in-time restore: stops and removes a data directory pgwarden created (never any other).
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Config } from '../../config/schema.js';
import { MARKER, restoredCluster } from './datadir.js';

export interface DiscardInput {
  datadir: string;
  runAs?: string;
  serverMajor: number;
}

export async function discardRestoredCluster(config: Config, input: DiscardInput): Promise<{ removed: boolean }> {
  if (!existsSync(join(input.datadir, MARKER))) return { removed: false };
  const cluster = await restoredCluster(config, input);
  await cluster.stop('immediate');
  await rm(input.datadir, { recursive: true, force: true }); // not sync: heartbeats go on while a big one goes
  return { removed: true };
}
