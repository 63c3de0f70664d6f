// Watches every process on the machine while a test runs (as root, who may read them all): which ones carry a
// secret in their command line or in their environment. Runs as a process of its own, reading /proc as fast as it
// can (a short-lived `runuser … pg_ctl` lives for milliseconds); the secrets come on stdin, never in argv.
// Protocol: `node process-watch.js --watch`; one JSON line {label: value} on stdin; at end of stdin it prints its
// report as JSON and exits. (Without --watch it does nothing: `node --test dist/test/` runs every file here.)
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export interface SeenProcess {
  pid: number;
  ppid: number;
  comm: string;
  /** What it ran (a process that execs runs several programs), with secrets masked and what each one held. */
  images: Array<{ argv: string; inArgv: string[]; inEnviron: string[] }>;
}

export interface WatchReport {
  processes: SeenProcess[];
  scans: number;
}

export const WATCHER = fileURLToPath(import.meta.url);

function read(path: string): string | undefined {
  try {
    return readFileSync(path, 'latin1');
  } catch {
    return undefined;
  }
}

function watch(secrets: Record<string, string>): () => WatchReport {
  const seen = new Map<number, SeenProcess & { first: number }>();
  const baseline = new Set(readdirSync('/proc').filter((d) => /^\d+$/.test(d)).map(Number));
  let scans = 0;
  let stopped = false;
  const mask = (text: string) => Object.entries(secrets).reduce((t, [label, value]) => t.split(value).join(`<${label}>`), text);
  const labelsIn = (text: string) => Object.entries(secrets).filter(([, value]) => text.includes(value)).map(([label]) => label);
  const scan = () => {
    scans += 1;
    const now = Date.now();
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      const pid = Number(entry);
      if (baseline.has(pid) || pid === process.pid) continue;
      const known = seen.get(pid);
      // A young process may still exec: read its command line again for a while.
      if (known && now - known.first > 2_000) continue;
      const cmdline = read(`/proc/${pid}/cmdline`);
      if (cmdline === undefined || cmdline === '') continue;
      const status = read(`/proc/${pid}/status`) ?? '';
      const ppid = Number(/PPid:\s+(\d+)/.exec(status)?.[1] ?? 0);
      // A fork that has not exec'd yet is still its parent's program (and environment): no image of its own yet,
      // but a link in the family tree (a shell's subshell is the parent of what the pipeline runs).
      if (cmdline === read(`/proc/${ppid}/cmdline`)) {
        if (!known) seen.set(pid, { pid, ppid, comm: '', images: [], first: now });
        continue;
      }
      const environ = read(`/proc/${pid}/environ`) ?? '';
      // The environment belongs to this command line only if it did not exec in between.
      if (read(`/proc/${pid}/cmdline`) !== cmdline) continue;
      const argv = mask(cmdline.replace(/\0+$/, '').split('\0').join(' '));
      const record = known ?? { pid, ppid, comm: '', images: [], first: now };
      record.comm = (read(`/proc/${pid}/comm`) ?? '').trim() || record.comm;
      if (!record.images.some((image) => image.argv === argv)) record.images.push({ argv, inArgv: labelsIn(cmdline), inEnviron: labelsIn(environ) });
      seen.set(pid, record);
    }
  };
  const loop = () => {
    if (stopped) return;
    scan();
    setImmediate(loop);
  };
  loop();
  return () => {
    stopped = true;
    scan();
    return { processes: [...seen.values()].map(({ first: _first, ...p }) => p), scans };
  };
}

if (process.argv[1] === WATCHER && process.argv[2] === '--watch') {
  let input = '';
  let stop: (() => WatchReport) | undefined;
  process.stdin.on('data', (chunk: Buffer) => {
    input += chunk.toString();
    if (!stop && input.includes('\n')) {
      stop = watch(JSON.parse(input.slice(0, input.indexOf('\n'))) as Record<string, string>);
      process.stdout.write('watching\n');
    }
  });
  process.stdin.on('end', () => {
    process.stdout.write(`${JSON.stringify(stop?.() ?? { processes: [], scans: 0 })}\n`);
  });
}
