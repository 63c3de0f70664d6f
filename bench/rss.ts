// Memory of a process and its children, from /proc: VmRSS sampled, VmHWM (the kernel's own peak) read at the end.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import type { ResultPromise } from 'execa';
import { check, now } from './util.js';

/** VmRSS and VmHWM of `pid` in bytes (undefined once it is gone). */
export function memoryOf(pid: number): { rss: number; hwm: number } | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0) * 1024;
    return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
  } catch {
    return undefined;
  }
}

/**
 * Resets the kernel's peak RSS (VmHWM) of `pid` to its current RSS ("5" > clear_refs, Linux 4.0+), so the peak
 * read after an operation belongs to that operation alone. False where not permitted.
 */
export function resetPeak(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

/** `pid` and every process below it. */
export function processTree(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const list = children.get(ppid) ?? [];
      list.push(Number(entry));
      children.set(ppid, list);
    } catch {
      /* gone meanwhile */
    }
  }
  const tree: number[] = [];
  const walk = (p: number) => {
    tree.push(p);
    for (const child of children.get(p) ?? []) walk(child);
  };
  walk(pid);
  return tree;
}

export interface PeakMemory {
  /** VmHWM of the process itself at the end (the kernel's peak since start or since resetPeak). */
  processHwm?: number;
  /** Highest sampled VmRSS of the process itself. */
  processRssSampled: number;
  /** Highest sampled sum of VmRSS over the process and its descendants (pg_dump, zstd, psql …). */
  treeRssSampled: number;
}

/** Samples the memory of `pid` (and its tree) every `everyMs` until stop(). */
export class RssSampler {
  private timer: NodeJS.Timeout | undefined;
  private processPeak = 0;
  private treePeak = 0;

  constructor(
    private readonly pid: number,
    private readonly everyMs = 100,
  ) {}

  start(): this {
    const sample = () => {
      const own = memoryOf(this.pid);
      if (own) this.processPeak = Math.max(this.processPeak, own.rss);
      let tree = 0;
      for (const p of processTree(this.pid)) tree += memoryOf(p)?.rss ?? 0;
      this.treePeak = Math.max(this.treePeak, tree);
    };
    sample();
    this.timer = setInterval(sample, this.everyMs);
    return this;
  }

  stop(): PeakMemory {
    if (this.timer) clearInterval(this.timer);
    const own = memoryOf(this.pid);
    const result: PeakMemory = { processRssSampled: this.processPeak, treeRssSampled: this.treePeak };
    if (own) result.processHwm = own.hwm;
    return result;
  }
}

/** Waits for a command of a shell-script tool, checks it succeeded, and returns its wall time and its process tree's peak. */
export async function timedStep(child: ResultPromise, what: string): Promise<{ ms: number; treePeak: number }> {
  const started = now();
  const sampler = child.pid ? new RssSampler(child.pid).start() : undefined;
  const result = await child;
  const mem = sampler?.stop();
  check(result, what);
  return { ms: now() - started, treePeak: mem?.treeRssSampled ?? 0 };
}
