// What the keys of pgwarden.yaml are made of: names, environment variable names, durations, and what a key says of
// itself for README.md's configuration table.
import { z } from 'zod';
import { parseDuration } from './duration.js';

// Every key carries what README.md's configuration table says of it: .describe() with what it does, .meta() for more
// (config/reference.ts renders the table; a unit test fails when README.md and the schema disagree).
declare module 'zod' {
  interface GlobalMeta {
    /** The default in words, where it is worked out at run time (a default the schema holds is shown as it is). */
    defaultText?: string;
    /** An object whose fields all take the same settings: its rows are written once, under this name ("<kind>"). */
    each?: string;
  }
}

/** Names end up in object keys, workflow ids and database names: keep them boring. */
export const NAME = /^[a-z0-9][a-z0-9_-]{0,62}$/;
const ENV_VAR = /^[A-Za-z_][A-Za-z0-9_]*$/;

export const envVarName = (what: string) =>
  z.string().regex(ENV_VAR, {
    message: `must be the NAME of an environment variable that holds ${what} (for example B2_APP_KEY), never the value itself`,
  });

export const duration = (example: string) =>
  z
    .union([z.string(), z.number()])
    .transform((value, ctx) => {
      const ms = typeof value === 'number' ? value * 1_000 : parseDuration(value);
      if (ms === undefined || ms <= 0) {
        ctx.addIssue({ code: 'custom', message: `"${value}" is not a duration: write it like "${example}" (units s, m, h, d, w)` });
        return z.NEVER;
      }
      return ms;
    });
