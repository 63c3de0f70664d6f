// `npm run docs:config`: rewrites README.md's configuration table from the schema (config/reference.ts).
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { withConfigTable } from './reference.js';

const readme = fileURLToPath(new URL('../../README.md', import.meta.url)); // from dist/config/
const before = readFileSync(readme, 'utf8');
const after = withConfigTable(before);
if (after !== before) writeFileSync(readme, after);
console.log(after === before ? 'README.md: the configuration table is up to date' : 'README.md: configuration table rewritten from config/schema.ts');
