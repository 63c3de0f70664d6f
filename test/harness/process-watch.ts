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
  /** Command lines it had (a process that execs has several), secrets masked. */
  argv: string[];
  /** Labels of the secrets found in its command line / its environment. */
  inArgv: string[];
  inEnviron: string[];
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
      const argv = cmdline.replace(/\0+$/, '').split('\0').join(' ');
      const environ = read(`/proc/${pid}/environ`) ?? '';
      const status = read(`/proc/${pid}/status`) ?? '';
      const comm = (read(`/proc/${pid}/comm`) ?? '').trim();
      const record = known ?? { pid, ppid: Number(/PPid:\s+(\d+)/.exec(status)?.[1] ?? 0), comm, argv: [], inArgv: [], inEnviron: [], first: now };
      if (!record.argv.includes(mask(argv))) record.argv.push(mask(argv));
      record.comm = comm || record.comm;
      for (const label of labelsIn(argv)) if (!record.inArgv.includes(label)) record.inArgv.push(label);
      for (const label of labelsIn(environ)) if (!record.inEnviron.includes(label)) record.inEnviron.push(label);
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
