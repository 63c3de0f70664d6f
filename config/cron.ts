// Checks a schedule's cron string as Temporal will read it, so a typo fails `config check` instead of `schedules apply`.

/** What each field of a 5-field cron string (minute hour day-of-month month day-of-week) accepts. */
const FIELDS = [
  { name: 'minute', min: 0, max: 59 },
  { name: 'hour', min: 0, max: 23 },
  { name: 'day of month', min: 1, max: 31 },
  { name: 'month', min: 1, max: 12, names: ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'] },
  { name: 'day of week', min: 0, max: 7, names: ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'] },
] as const;
const SECOND = { name: 'second', min: 0, max: 59 } as const;
const YEAR = { name: 'year', min: 1970, max: 2999 } as const;
const PREDEFINED = ['@yearly', '@annually', '@monthly', '@weekly', '@daily', '@midnight', '@hourly'];

type Field = { name: string; min: number; max: number; names?: readonly string[] };

/** The value of one bound in a field ("5", "MON"), or a reason it is not one. */
function bound(text: string, field: Field): number | string {
  const named = field.names?.indexOf(text.toUpperCase()) ?? -1;
  if (named >= 0) return field.name === 'month' ? named + 1 : named;
  if (!/^\d+$/.test(text)) return `"${text}" is not a number${field.names ? ` or one of ${field.names.join(', ')}` : ''}`;
  const n = Number(text);
  return n < field.min || n > field.max ? `${n} is outside ${field.min}-${field.max}` : n;
}

function checkField(text: string, field: Field): string | undefined {
  for (const item of text.split(',')) {
    const [range, step, extra] = item.split('/');
    if (extra !== undefined || (step !== undefined && !/^[1-9]\d*$/.test(step))) return `"${item}" has a bad step (write */15 or 0-30/5)`;
    if (range === '*' || range === '?') continue;
    const ends = range!.split('-');
    if (ends.length > 2 || ends.some((e) => e === '')) return `"${item}" is not a value, a range a-b or *`;
    const values = ends.map((e) => bound(e, field));
    const bad = values.find((v): v is string => typeof v === 'string');
    if (bad) return bad;
    if (values.length === 2 && (values[0] as number) > (values[1] as number)) return `the range "${range}" runs backwards`;
  }
  return undefined;
}

/**
 * Why Temporal would refuse `expression` (or read it otherwise than meant), or undefined when it is a cron string
 * it accepts: 5 fields (minute hour day-of-month month day-of-week), 6 (plus year) or 7 (second first, year last),
 * `@daily` and the other predefined names, `@every <duration>`, with an optional `CRON_TZ=<zone>` in front.
 */
export function cronProblem(expression: string): string | undefined {
  let text = expression.trim().replace(/\s+#.*$/, '');
  const zone = /^(?:CRON_TZ|TZ)=(\S+)\s+/.exec(text);
  if (zone) text = text.slice(zone[0].length);
  if (text.startsWith('@')) {
    if (PREDEFINED.includes(text.toLowerCase())) return undefined;
    if (/^@every\s+\d+(\.\d+)?(ns|us|µs|ms|s|m|h)(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))*(\/\S+)?$/.test(text)) return undefined;
    return `"${text}" is not one of ${PREDEFINED.join(', ')} or "@every <duration>" (like @every 6h)`;
  }
  const parts = text.split(/\s+/).filter(Boolean);
  const fields: Field[] | undefined = parts.length === 5 ? [...FIELDS] : parts.length === 6 ? [...FIELDS, YEAR] : parts.length === 7 ? [SECOND, ...FIELDS, YEAR] : undefined;
  if (!fields) return `has ${parts.length} field${parts.length === 1 ? '' : 's'}; a cron string has 5: minute hour day-of-month month day-of-week (like "0 2 * * *" for 02:00 every day)`;
  for (const [i, part] of parts.entries()) {
    const problem = checkField(part, fields[i]!);
    if (problem) return `${fields[i]!.name} field: ${problem}`;
  }
  return undefined;
}
