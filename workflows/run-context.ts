// What a workflow's steps need from where they run: a Temporal workflow, or the CLI's --local mode.
export interface RunContext {
  workflowId: string;
  runId: string;
  /** Workflow time inside Temporal (deterministic), the clock in --local mode. */
  now(): number;
  /** Runs clean-up so that cancellation cannot interrupt it (a non-cancellable scope in Temporal). */
  protect<T>(cleanup: () => Promise<T>): Promise<T>;
}
