// README.md's configuration table, generated from the zod schema: every key, what it does and its default, as the
// schema says them (.describe()/.meta() where config/ declares each key). `npm run docs:config` writes it.
import { z } from 'zod';
import { ConfigSchema } from './schema.js';

/** The lines around the generated table in README.md. */
export const TABLE_START = '<!-- configuration table: generated from config/schema.ts by `npm run docs:config`, not edited by hand -->';
export const TABLE_END = '<!-- end of the configuration table -->';

export interface ReferenceRow {
  /** Key paths; several when sibling keys share one description (`alerts.minBackupSize`, `alerts.maxBackupAge`, …). */
  keys: string[];
  /** The variant of a discriminated union the keys belong to (`s3` of `repositories.<name>.type`). */
  variant?: string;
  description: string;
  /** One per key: the schema's default as written in pgwarden.yaml, its defaultText, "none" or "required". */
  defaults: string[];
  /** One per key: the default the schema holds (undefined where it holds none), as pgwarden.yaml would write it. */
  values: unknown[];
}

/** The parts of a zod 4 definition the walk reads. */
interface Definition {
  type: string;
  innerType?: z.core.$ZodType;
  defaultValue?: unknown;
  in?: z.core.$ZodType;
  shape?: Record<string, z.core.$ZodType>;
  valueType?: z.core.$ZodType;
  options?: z.core.$ZodType[];
  discriminator?: string;
  values?: unknown[];
}
const definition = (schema: z.core.$ZodType) => schema._zod.def as unknown as Definition;

interface Unwrapped {
  /** The schema under optional, default, prefault and transforms. */
  core: z.core.$ZodType;
  meta: z.core.GlobalMeta;
  optional: boolean;
  default?: { value: unknown };
}

function unwrap(schema: z.core.$ZodType): Unwrapped {
  const meta: Record<string, unknown> = {};
  let optional = false;
  let found: { value: unknown } | undefined;
  let current = schema;
  for (;;) {
    for (const [key, value] of Object.entries(z.globalRegistry.get(current) ?? {})) if (!(key in meta)) meta[key] = value; // the outermost wins
    const def = definition(current);
    if (def.type === 'optional') {
      optional = true;
      current = def.innerType!;
    } else if (def.type === 'default' || def.type === 'prefault') {
      found ??= { value: def.defaultValue }; // prefault: the value as written in pgwarden.yaml ("7d"), not as parsed
      current = def.innerType!;
    } else if (def.type === 'pipe') {
      current = def.in!;
    } else {
      return { core: current, meta: meta as z.core.GlobalMeta, optional, ...(found ? { default: found } : {}) };
    }
  }
}

interface Place {
  path: string[];
  variant?: string;
  /** The union's discriminator key, for the row that picks the variant. */
  discriminator?: string;
  /** The nearest optional object around the key: a key it requires is required only there. */
  requiredIn?: string;
  /** The default of the object around the key (encryption: { passphraseEnv: BACKUP_PASSPHRASE }). */
  around?: { path: string; value: Record<string, unknown> };
}

/** "`7d`", "`false`"; an empty string or list is "none". */
function shown(value: unknown): string {
  if (value === '' || (Array.isArray(value) && value.length === 0)) return 'none';
  return `\`${typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean' ? String(value) : JSON.stringify(value)}\``;
}

function defaultOf(unwrapped: Unwrapped, place: Place, where: string): string {
  const { meta } = unwrapped;
  if (unwrapped.default && meta.defaultText !== undefined) throw new Error(`${where}: the schema holds its default (${shown(unwrapped.default.value)}): remove defaultText`);
  if (unwrapped.default) return shown(unwrapped.default.value);
  if (meta.defaultText !== undefined) return meta.defaultText;
  const key = place.path.at(-1)!;
  if (place.around && place.around.value[key] !== undefined) return `${shown(place.around.value[key])} when \`${place.around.path}:\` is left out`;
  if (unwrapped.optional) return 'none';
  return place.requiredIn ? `required in \`${place.requiredIn}\`` : 'required';
}

function walk(schema: z.core.$ZodType, place: Place, rows: ReferenceRow[]): void {
  const unwrapped = unwrap(schema);
  const { core, meta } = unwrapped;
  const def = definition(core);
  const where = place.path.join('.');
  if (meta.description !== undefined) {
    if (place.discriminator === place.path.at(-1) && def.type === 'literal') {
      rows.push({ keys: [`${where}: ${String(def.values![0])}`], description: meta.description, defaults: [''], values: [undefined] });
    } else {
      rows.push({
        keys: [where],
        ...(place.variant ? { variant: place.variant } : {}),
        description: meta.description,
        defaults: [defaultOf(unwrapped, place, where)],
        values: [unwrapped.default?.value],
      });
    }
    return;
  }
  if (meta.defaultText !== undefined) throw new Error(`${where}: has a defaultText but no description`);
  const requiredIn = unwrapped.optional ? where : place.requiredIn;
  if (def.type === 'object') {
    const shape = def.shape!;
    if (meta.each !== undefined) {
      // kinds: { daily: KindSettings, weekly: KindSettings, … }: one set of rows under <kind>.
      const fields = Object.values(shape).map(unwrap);
      const first = fields[0]!;
      if (!fields.every((f) => f.core === first.core)) throw new Error(`${where}: "each" needs every field to take the same settings`);
      const path = [...place.path, meta.each];
      walk(first.core, { path, ...(first.optional ? { requiredIn: path.join('.') } : requiredIn ? { requiredIn } : {}) }, rows);
      return;
    }
    const value = unwrapped.default?.value;
    const around = value && typeof value === 'object' ? { path: where, value: value as Record<string, unknown> } : undefined;
    for (const [key, field] of Object.entries(shape)) {
      walk(
        field,
        {
          path: [...place.path, key],
          ...(place.variant ? { variant: place.variant, discriminator: place.discriminator! } : {}),
          ...(requiredIn ? { requiredIn } : {}),
          ...(around ? { around } : {}),
        },
        rows,
      );
    }
    return;
  }
  if (def.type === 'record') {
    walk(def.valueType!, { path: [...place.path, '<name>'], ...(requiredIn ? { requiredIn } : {}) }, rows);
    return;
  }
  if (def.type === 'union' && def.discriminator !== undefined) {
    for (const option of def.options!) {
      const tag = definition(unwrap(definition(unwrap(option).core).shape![def.discriminator]!).core).values![0];
      walk(option, { ...place, variant: String(tag), discriminator: def.discriminator }, rows);
    }
    return;
  }
  throw new Error(`${where} has no description: say what it does with .describe() where the schema declares it`);
}

/** Every key of the schema in its order; sibling keys that share a description share a row. */
export function configReference(schema: z.core.$ZodType = ConfigSchema): ReferenceRow[] {
  const rows: ReferenceRow[] = [];
  walk(schema, { path: [] }, rows);
  const merged: ReferenceRow[] = [];
  const parent = (key: string) => key.slice(0, key.lastIndexOf('.'));
  for (const row of rows) {
    const last = merged.at(-1);
    if (last && last.description === row.description && last.variant === row.variant && parent(last.keys[0]!) === parent(row.keys[0]!)) {
      last.keys.push(...row.keys);
      last.defaults.push(...row.defaults);
      last.values.push(...row.values);
    } else {
      merged.push({ ...row, keys: [...row.keys], defaults: [...row.defaults], values: [...row.values] });
    }
  }
  return merged;
}

/** The Markdown table: key, meaning, default. */
export function configTable(rows: ReferenceRow[] = configReference()): string {
  const cell = (text: string) => text.replace(/\|/g, '\\|');
  const lines = ['| key | meaning | default |', '| --- | --- | --- |'];
  for (const row of rows) {
    const keys = row.keys.map((key, i) => (i === 0 ? `\`${key}\`` : `\`.${key.slice(key.lastIndexOf('.') + 1)}\``)).join(', ');
    const defaults = new Set(row.defaults).size === 1 ? row.defaults[0]! : row.defaults.join(', ');
    lines.push(`| ${cell(keys + (row.variant ? ` (${row.variant})` : ''))} | ${cell(row.description)} | ${cell(defaults)} |`);
  }
  return lines.join('\n');
}

/** README.md's text with the table between the markers replaced by the generated one. */
export function withConfigTable(readme: string, table: string = configTable()): string {
  const start = readme.indexOf(TABLE_START);
  const end = readme.indexOf(TABLE_END);
  if (start < 0 || end < start) throw new Error(`README.md has no configuration table between the lines ${TABLE_START} and ${TABLE_END}`);
  return `${readme.slice(0, start + TABLE_START.length)}\n${table}\n${readme.slice(end)}`;
}
