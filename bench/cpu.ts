// CPU time of one process from /proc: what the pgwarden worker itself spends (its children, pg_dump, zstd, gpg,
// psql, are processes of their own and not included). Far less sensitive to other load than wall time.
import { readFileSync } from 'node:fs';
import { execaSync } from 'execa';

let ticksPerSecond: number | undefined;

function clockTicks(): number {
  if (ticksPerSecond === undefined) {
    const out = execaSync('getconf', ['CLK_TCK'], { reject: false }).stdout;
    ticksPerSecond = Number(out) > 0 ? Number(out) : 100;
  }
  return ticksPerSecond;
}

/** utime + stime of `pid` (its own threads, not its children) in milliseconds; undefined once it is gone. */
export function cpuMsOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after "(comm) ": state is field 3, utime 14, stime 15 (1-based).
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]);
    return (ticks * 1000) / clockTicks();
  } catch {
    return undefined;
  }
}

/** Measures the CPU time `pid` spends between start() and stop(). */
export class CpuMeter {
  private readonly startMs: number | undefined;

  constructor(private readonly pid: number) {
    this.startMs = cpuMsOf(pid);
  }

  /** CPU milliseconds since construction, or undefined when the process could not be read. */
  stop(): number | undefined {
    const end = cpuMsOf(this.pid);
    return end === undefined || this.startMs === undefined ? undefined : end - this.startMs;
  }
}

/** Core-seconds per GB (decimal) of `bytes`. */
export function coreSecondsPerGb(cpuMs: number, bytes: number): number {
  return cpuMs / 1000 / (bytes / 1e9);
}
