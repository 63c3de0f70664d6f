// Whether a process still runs, by its pid (Node built-ins only: the archive commands PostgreSQL runs load it).

/** True while process `pid` exists: signal 0 reaches it, or it belongs to another user (EPERM). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
