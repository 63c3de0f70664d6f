// Reads pgwarden.yaml, validates it, and answers the questions every part asks of it.
import { readFileSync, existsSync } from 'node:fs';
import { configPath } from './path.js';
import { parseDocument } from 'yaml';
import type { z } from 'zod';
import { ConfigSchema, type Config } from './schema.js';
import { PgwardenError } from '../domain/errors.js';

// What every part asks of a validated configuration lives in view.ts (no yaml, no zod: the per-segment commands
// load it); re-exported here, where callers have always found it.
export { databaseView, repositorySettings, type DatabaseView } from './view.js';
export { configPath, DEFAULT_CONFIG_FILE } from './path.js';

export function loadConfig(path = configPath()): Config {
  if (!existsSync(path)) {
    throw new PgwardenError(
      'Config',
      `No configuration at ${path}: create it (see pgwarden.example.yaml), pass --config FILE or set PGWARDEN_CONFIG.`,
    );
  }
  return parseConfigText(readFileSync(path, 'utf8'), path);
}

/** The text of pgwarden.yaml, parsed and validated; `path` names it in errors. */
export function parseConfigText(text: string, path: string): Config {
  const doc = parseDocument(text, { prettyErrors: true });
  if (doc.errors.length > 0) {
    throw new PgwardenError('Config', `${path} is not valid YAML:\n${doc.errors.map((e) => `  ${e.message}`).join('\n')}`);
  }
  return parseConfig(doc.toJS() ?? {}, path);
}

/** Validates an already-parsed document; `source` names it in errors. */
export function parseConfig(input: unknown, source = 'pgwarden.yaml'): Config {
  const result = ConfigSchema.safeParse(input);
  if (!result.success) throw new PgwardenError('Config', formatConfigIssues(result.error.issues, source));
  return result.data;
}

/**
 * A threshold that is neither `false` nor a valid setting says only "Invalid input": the setting's own complaint
 * ("not a duration: write it like …") says what to fix. Other unions keep their own messages.
 */
function closestIssues(issue: z.core.$ZodIssue): z.core.$ZodIssue[] {
  if (issue.code !== 'invalid_union') return [issue];
  const offSwitch = (branch: z.core.$ZodIssue[]) => branch.length === 1 && branch[0]!.code === 'invalid_value' && branch[0]!.values.length === 1 && branch[0]!.values[0] === false;
  const rest = issue.errors.filter((branch) => !offSwitch(branch));
  if (rest.length !== 1 || rest.length === issue.errors.length) return [issue];
  return rest[0]!.flatMap((i) => closestIssues({ ...i, path: [...issue.path, ...i.path] } as z.core.$ZodIssue));
}

function formatConfigIssues(issues: readonly z.core.$ZodIssue[], source: string): string {
  const lines = issues.flatMap(closestIssues).map((issue) => {
    const key = issue.path.length > 0 ? issue.path.map(String).join('.') : '(top level)';
    let message = issue.message;
    if (issue.code === 'unrecognized_keys') {
      message = `unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')}: remove or correct ${issue.keys.length > 1 ? 'them' : 'it'} (see pgwarden.example.yaml)`;
    } else if (issue.code === 'invalid_type' && /received undefined/.test(message)) {
      message = `is required (${message})`;
    }
    return `  ${key}: ${message}`;
  });
  return `${source} is invalid:\n${lines.join('\n')}`;
}
