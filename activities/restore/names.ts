// The names a restore gives what it makes: the staging database of a run, and the restore lock it holds.

/** "<target>_pgwrestore_<8 chars of the run id>": unique per run, recognisable, within 63 bytes. The last chars:
 *  run ids are UUIDv7, whose first ones are a timestamp that runs a minute apart share. */
export function stagingName(target: string, runId: string): string {
  return `${target.slice(0, 40)}_pgwrestore_${runTag(runId)}`;
}

export function runTag(runId: string): string {
  return runId.replace(/-/g, '').slice(-8);
}

/** The run a staging database belongs to (the tag stagingName put at its end). */
export function runOfStaging(staging: string): string {
  return staging.slice(staging.lastIndexOf('_pgwrestore_') + '_pgwrestore_'.length);
}

/** One restore per database at a time; a drill (onto the drill server) never keeps a real restore waiting. */
export function restoreLockName(input: { database: string; server?: 'drill' }): string {
  return input.server ? `${input.database} (${input.server})` : input.database;
}
