// Checks what a workflow was started with (Temporal UI, a schedule, a script) before anything runs: input of the
// wrong shape fails the workflow at once with a Usage error that shows the right shape. (Left to the code, it
// throws a TypeError, which fails the workflow *task*, and Temporal retries that task for ever.)
import { ApplicationFailure } from '@temporalio/common';

/** Input the payload converter could not decode (worker/payload-converter.ts): reported as not JSON. */
export class UndecodableInput {
  constructor(readonly reason: string) {}
}

export type InputField =
  | { type: 'string'; required?: boolean; oneOf?: readonly string[] }
  | { type: 'boolean' | 'integer'; required?: boolean }
  | { type: 'strings'; required?: boolean };

/**
 * Returns the input with the declared fields checked; null counts as absent (the UI's way to leave a field out).
 * Fields that are not declared are passed through untouched. Workflows call what they were started with `raw` and
 * what this returns `input`.
 */
export function checkInput<T>(workflowType: string, raw: unknown, fields: Record<string, InputField>, example: string): T {
  const fail = (problem: string): never => {
    throw ApplicationFailure.nonRetryable(`${workflowType} input ${problem}. Expected JSON like ${example}`, 'Usage');
  };
  if (raw instanceof UndecodableInput || typeof raw !== 'object' || raw === null || Array.isArray(raw) || raw instanceof Uint8Array) {
    return fail(`must be one JSON object, got ${describe(raw)}`);
  }
  const checked: Record<string, unknown> = { ...(raw as Record<string, unknown>) };
  for (const [name, rule] of Object.entries(fields)) {
    const value = checked[name];
    if (value === undefined || value === null) {
      delete checked[name];
      if (rule.required) fail(`needs "${name}"`);
      continue;
    }
    if (rule.type === 'strings') {
      if (!Array.isArray(value) || value.length === 0 || value.some((v) => typeof v !== 'string' || v === '')) fail(`field "${name}" must be a list of names like ["public.orders"], got ${describe(value)}`);
      continue;
    }
    const matches = rule.type === 'integer' ? Number.isInteger(value) : typeof value === rule.type;
    if (!matches) fail(`field "${name}" must be ${rule.type === 'integer' ? 'an integer' : `a ${rule.type}`}, got ${describe(value)}`);
    if (rule.type === 'string') {
      if (value === '') fail(`field "${name}" must not be empty`);
      if (rule.oneOf && !rule.oneOf.includes(value as string)) fail(`field "${name}" must be one of ${rule.oneOf.join(', ')}, got "${String(value)}"`);
    }
  }
  return checked as T;
}

function describe(value: unknown): string {
  if (value instanceof UndecodableInput) return `input that is not JSON (${value.reason})`;
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (value instanceof Uint8Array) return 'binary data (send JSON: encoding json/plain)';
  if (typeof value === 'string') return `the string ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)}`;
  return `${typeof value} ${JSON.stringify(value)?.slice(0, 40) ?? ''}`.trim();
}
