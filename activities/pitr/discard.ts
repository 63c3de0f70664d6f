// Compensation of a failed point-in-time restore: stops and removes a data directory pgwarden created (never any
// other), and the directories it made above it.
import { existsSync, rmdirSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Config } from '../../config/schema.js';
import { createdAbove, MARKER, restoredCluster } from './datadir.js';

export interface DiscardInput {
  datadir: string;
  runAs?: string;
  serverMajor: number;
}

export async function discardRestoredCluster(config: Config, input: DiscardInput): Promise<{ removed: boolean }> {
  if (!existsSync(join(input.datadir, MARKER))) {
    // Made a moment before its marker and left so by a killed worker: an empty directory holds nothing to lose.
    try {
      rmdirSync(input.datadir);
      return { removed: true };
    } catch {
      return { removed: false }; // not empty (not ours), or not there
    }
  }
  const cluster = await restoredCluster(config, input);
  const above = createdAbove(input.datadir);
  await cluster.stop('immediate');
  await rm(input.datadir, { recursive: true, force: true }); // not sync: heartbeats go on while a big one goes
  // The directories made for it, innermost first, as long as nothing else has come to live in them.
  for (const dir of above.reverse()) {
    try {
      rmdirSync(dir);
    } catch {
      break; // not empty (or gone): what is above it stays too
    }
  }
  return { removed: true };
}
