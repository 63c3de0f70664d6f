// Which worker a point-in-time restore runs on: asked on the shared task queue, answered with the task queue of the
// worker's own host, where every later step goes (its data directory is on that host's disk).
import { hostname } from 'node:os';
import type { Config } from '../../config/schema.js';

export interface PitrHost {
  /** The task queue only this host's workers poll. */
  taskQueue: string;
  host: string;
  /** How long a step may wait for this host (a restart) before the restore starts over on another worker. */
  waitMs: number;
}

export function hostTaskQueue(config: Config): string {
  return config.temporal.hostTaskQueue ?? `${config.temporal.taskQueue}@${hostname()}`;
}

export function pitrHost(config: Config): PitrHost {
  return { taskQueue: hostTaskQueue(config), host: hostname(), waitMs: config.temporal.hostWait };
}
