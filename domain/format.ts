// How pgwarden prints durations and sizes: one place, so a report, a progress line and an alert read alike.
// Pure (workflows use it too).

/** A retention as people set it: "30 days", "12 hours", "1 minute" (whole units), else as formatDuration. */
export function formatRetention(ms: number): string {
  for (const [unit, size] of [['day', 86_400_000], ['hour', 3_600_000], ['minute', 60_000], ['second', 1_000]] as const) {
    if (ms >= size && ms % size === 0) return `${ms / size} ${unit}${ms === size ? '' : 's'}`;
  }
  return formatDuration(ms);
}

/** "1h 02m 03s", "4.2s", "350ms": short enough for a progress line, exact enough for an RTO report. */
export function formatDuration(ms: number): string {
  if (ms < 1_000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${(ms / 1_000).toFixed(1)}s`;
  const totalSeconds = Math.round(ms / 1_000);
  const d = Math.floor(totalSeconds / 86_400);
  const h = Math.floor((totalSeconds % 86_400) / 3_600);
  const m = Math.floor((totalSeconds % 3_600) / 60);
  const s = totalSeconds % 60;
  const pad = (n: number) => String(n).padStart(2, '0');
  if (d > 0) return `${d}d ${pad(h)}h ${pad(m)}m`;
  if (h > 0) return `${h}h ${pad(m)}m ${pad(s)}s`;
  return `${m}m ${pad(s)}s`;
}

/** 1536 -> "1.5 KiB"; sizes in reports are binary units, as `du -h` prints them. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(value < 10 ? 2 : 1)} ${units[unit]}`;
}

/** "1h 02m", "26h", "3d 04h": thresholds and ages in alert texts. */
export function humanDuration(ms: number): string {
  // Under a second in whole seconds would read "0s" for 211 ms (nothing at all stays "0s": a lag of none).
  if (ms > 0 && ms < 1_000) return `${Math.round(ms)} ms`;
  const s = Math.round(ms / 1_000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${s % 60 ? ` ${String(s % 60).padStart(2, '0')}s` : ''}`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h${m % 60 ? ` ${String(m % 60).padStart(2, '0')}m` : ''}`;
  return `${Math.floor(h / 24)}d${h % 24 ? ` ${String(h % 24).padStart(2, '0')}h` : ''}`;
}
