// Restoring some tables of a backup (`restore --table`, `--schema`): which tables, and of the schema objects and
// data streams only what belongs to them. Foreign keys to tables left out cannot be made: they are listed instead.
import { PgwardenError } from '../../domain/errors.js';
import type { BackupManifest } from '../catalog/manifest.js';
import type { Step } from '../pipeline/chain.js';

/** The manifest's names of the tables asked for (`schema.table`, quotes optional), or a Usage error naming what is not there. */
export function selectTables(manifest: BackupManifest, tables: string[], schemas: string[]): string[] {
  const bare = (name: string) => name.replace(/"/g, '');
  const byBare = new Map(Object.keys(manifest.tables).map((name) => [bare(name), name] as const));
  const missing: string[] = [];
  const selected = new Set<string>();
  for (const wanted of tables) {
    const name = byBare.get(bare(wanted.includes('.') ? wanted : `public.${wanted}`));
    if (name) selected.add(name);
    else missing.push(wanted);
  }
  for (const schema of schemas) {
    const inSchema = [...byBare.entries()].filter(([b]) => b.startsWith(`${bare(schema)}.`)).map(([, name]) => name);
    if (inSchema.length === 0) missing.push(`schema ${schema}`);
    inSchema.forEach((name) => selected.add(name));
  }
  if (missing.length) {
    throw new PgwardenError(
      'Usage',
      `Backup ${manifest.id} has no ${missing.join(', ')}. Its tables: ${Object.keys(manifest.tables).slice(0, 20).join(', ')}${Object.keys(manifest.tables).length > 20 ? ', …' : ''}. Name tables as schema.table (\`pgwarden backups diff\` lists them).`,
    );
  }
  return [...selected].sort();
}

interface Entry {
  type: string;
  schema: string;
  body: string;
  text: string;
}

/** pg_restore's SQL as its entries ("-- Name: …; Type: …; Schema: …" and the statements after), and what comes before them. */
function entries(sql: string): { preamble: string; entries: Entry[] } {
  const parts = sql.split(/^(?=--\n-- Name: )/m);
  const preamble = parts[0]!.startsWith('--\n-- Name: ') ? '' : parts.shift()!;
  return {
    preamble,
    entries: parts.map((text) => {
      const header = /^--\n-- Name: .*?; Type: ([A-Z ]+); Schema: ([^;]+);/.exec(text);
      const body = text.split(/^--\s*$/m).slice(2).join('').split('\n').filter((l) => l.trim() && !l.startsWith('--')).join('\n');
      return { type: header?.[1] ?? '', schema: header?.[2] ?? '', body, text };
    }),
  };
}

const TABLE_NAME = String.raw`((?:"[^"]+"|[^\s."]+)\.(?:"[^"]+"|[^\s."(]+))`;

export interface SchemaSelection {
  tables: Set<string>;
  /** Sequences owned by the selected tables (their setval lines in the data streams are kept). */
  sequences: Set<string>;
}

/**
 * The pre-data SQL of only the selected tables: their schemas (but public), the types, domains and extensions any
 * column may use, the tables, the sequences they own, their column defaults, comments and grants.
 */
export function preDataFor(sql: string, tables: string[]): { sql: string; selection: SchemaSelection } {
  const { preamble, entries: all } = entries(sql);
  const selected = new Set(tables);
  const schemas = new Set(tables.map((t) => t.slice(0, t.indexOf('.', t.startsWith('"') ? t.indexOf('"', 1) : 0)).replace(/"/g, '')));
  const sequences = new Set<string>();
  for (const e of all) {
    const owned = new RegExp(`^ALTER SEQUENCE ${TABLE_NAME} OWNED BY ${TABLE_NAME}\\.`, 'm').exec(e.body);
    if (e.type === 'SEQUENCE OWNED BY' && owned && selected.has(owned[2]!)) sequences.add(owned[1]!);
  }
  const mentions = (body: string) => [...selected, ...sequences].some((name) => new RegExp(`(TABLE|SEQUENCE|COLUMN|ON|ONLY) ${name.replace(/[.*+?^${}()|[\]\\"]/g, '\\$&')}[\\s.;(]`).test(body));
  const keep = all.filter((e) => {
    switch (e.type) {
      case 'SCHEMA':
        return schemas.has(e.text.match(/^-- Name: ([^;]+);/m)?.[1] ?? '') && !/^-- Name: public;/m.test(e.text);
      case 'EXTENSION':
      case 'TYPE':
      case 'DOMAIN':
        return true;
      case 'TABLE': {
        const created = new RegExp(`^CREATE (?:UNLOGGED )?TABLE ${TABLE_NAME} `, 'm').exec(e.body);
        return created !== null && selected.has(created[1]!);
      }
      case 'SEQUENCE': {
        const created = new RegExp(`^CREATE SEQUENCE ${TABLE_NAME}`, 'm').exec(e.body);
        return created !== null && sequences.has(created[1]!);
      }
      case 'SEQUENCE OWNED BY':
      case 'DEFAULT':
      case 'COMMENT':
      case 'ACL':
        return mentions(e.body);
      default:
        return false;
    }
  });
  return { sql: `${preamble}${keep.map((e) => e.text).join('')}`, selection: { tables: selected, sequences } };
}

/**
 * The post-data SQL of the selected tables: their indexes and constraints, and foreign keys whose referenced table
 * is restored too; those that point at a table left out are returned as `leftOut` ("public.reviews: reviews_product_id_fkey → public.products").
 */
export function postDataFor(sql: string, selection: SchemaSelection): { sql: string; leftOut: string[] } {
  const { preamble, entries: all } = entries(sql);
  const leftOut: string[] = [];
  const keep = all.filter((e) => {
    if (e.type === 'INDEX') {
      const on = new RegExp(`^CREATE (?:UNIQUE )?INDEX \\S+ ON (?:ONLY )?${TABLE_NAME} `, 'm').exec(e.body);
      return on !== null && selection.tables.has(on[1]!);
    }
    if (e.type === 'CONSTRAINT' || e.type === 'CHECK CONSTRAINT' || e.type === 'FK CONSTRAINT') {
      const alter = new RegExp(`^ALTER TABLE (?:ONLY )?${TABLE_NAME}\\s+ADD CONSTRAINT (\\S+) `, 'm').exec(e.body);
      if (!alter || !selection.tables.has(alter[1]!)) return false;
      if (e.type !== 'FK CONSTRAINT') return true;
      const target = new RegExp(`REFERENCES ${TABLE_NAME}\\(`).exec(e.body)?.[1];
      if (target !== undefined && selection.tables.has(target)) return true;
      leftOut.push(`${alter[1]}: foreign key ${alter[2]} → ${target ?? '?'} (not restored)`);
      return false;
    }
    return false;
  });
  return { sql: `${preamble}${keep.map((e) => e.text).join('')}`, leftOut };
}

/**
 * A filter between the decrypted data stream and psql: COPY blocks of tables not selected, and setval() of
 * sequences not restored, are dropped (awk, so that the plain bytes stay between processes).
 */
export function copyFilterStep(selection: SchemaSelection): Step {
  const program = String.raw`
BEGIN { n = split(ENVIRON["PGWARDEN_TABLES"], t, "\n"); m = split(ENVIRON["PGWARDEN_SEQUENCES"], s, "\n") }
skipping { if ($0 == "\\.") skipping = 0; next }
/^COPY / { keep = 0; for (i = 1; i <= n; i++) if (index($0, "COPY " t[i] " ") == 1) keep = 1; if (!keep) { skipping = 1; next } }
/^SELECT pg_catalog\.setval\(/ { keep = 0; for (i = 1; i <= m; i++) if (index($0, "setval('" s[i] "'") > 0) keep = 1; if (!keep) next }
{ print }
`;
  // Names through the environment: awk -v would read backslashes in them as escapes.
  return { command: 'awk', args: [program], env: { PGWARDEN_TABLES: [...selection.tables].join('\n'), PGWARDEN_SEQUENCES: [...selection.sequences].join('\n') }, label: 'awk (table filter)' };
}
