// Counts the rows of every table in a plain-format (SQL) data dump as it streams past.
// In COPY text format every row ends in a newline and newlines inside values are escaped (\n),
// so the rows of a table are the lines between "COPY … FROM stdin;" and "\.".
import { Transform, type TransformCallback } from 'node:stream';

const NEWLINE = 0x0a;
const BACKSLASH = 0x5c;
const DOT = 0x2e;
/** Statements outside COPY data are short; a longer line is kept only this far (enough to see "COPY"). */
const MAX_STATEMENT_LINE = 1 << 20;

export class CopyRowCounter extends Transform {
  /** Rows per table, keyed by the table name as pg_dump wrote it (already quoted where needed). */
  readonly rows = new Map<string, number>();
  private table: string | undefined; // the table whose COPY data is streaming, if any
  private lineHead: Buffer[] = []; // start of the current line, outside COPY data
  private lineHeadBytes = 0;
  private dataLineLength = 0; // bytes of the current data line so far (only the first two matter)
  private dataLineStart = Buffer.alloc(2); // first two bytes of the current data line, to spot "\."

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    let pos = 0;
    while (pos < chunk.length) {
      const newline = chunk.indexOf(NEWLINE, pos);
      const end = newline === -1 ? chunk.length : newline;
      if (this.table !== undefined) this.dataLinePart(chunk, pos, end);
      else this.statementLinePart(chunk, pos, end);
      if (newline === -1) break;
      this.lineEnded();
      pos = newline + 1;
    }
    callback(null, chunk);
  }

  private dataLinePart(chunk: Buffer, start: number, end: number): void {
    const length = end - start;
    for (let i = 0; i < length && this.dataLineLength + i < 2; i += 1) {
      this.dataLineStart[this.dataLineLength + i] = chunk[start + i]!;
    }
    this.dataLineLength += length;
  }

  private statementLinePart(chunk: Buffer, start: number, end: number): void {
    if (this.lineHeadBytes >= MAX_STATEMENT_LINE || end === start) return;
    const piece = chunk.subarray(start, Math.min(end, start + MAX_STATEMENT_LINE - this.lineHeadBytes));
    this.lineHead.push(Buffer.from(piece));
    this.lineHeadBytes += piece.length;
  }

  private lineEnded(): void {
    if (this.table !== undefined) {
      const isEndMarker = this.dataLineLength === 2 && this.dataLineStart[0] === BACKSLASH && this.dataLineStart[1] === DOT;
      if (isEndMarker) this.table = undefined;
      else this.rows.set(this.table, (this.rows.get(this.table) ?? 0) + 1);
      this.dataLineLength = 0;
      return;
    }
    const line = Buffer.concat(this.lineHead, this.lineHeadBytes).toString('utf8');
    this.lineHead = [];
    this.lineHeadBytes = 0;
    const table = copyTarget(line);
    if (table !== undefined) {
      this.table = table;
      if (!this.rows.has(table)) this.rows.set(table, 0);
    }
  }
}

/** `COPY public."Order" (id, note) FROM stdin;` -> `public."Order"`; anything else -> undefined. */
export function copyTarget(line: string): string | undefined {
  if (!line.startsWith('COPY ') || !line.endsWith(' FROM stdin;')) return undefined;
  let i = 5;
  let name = '';
  for (;;) {
    if (line[i] === '"') {
      const startQuote = i;
      i += 1;
      while (i < line.length) {
        if (line[i] === '"' && line[i + 1] === '"') i += 2;
        else if (line[i] === '"') break;
        else i += 1;
      }
      i += 1;
      name += line.slice(startQuote, i);
    } else {
      const match = /^[^."\s(]+/.exec(line.slice(i));
      if (!match) return undefined;
      name += match[0];
      i += match[0].length;
    }
    if (line[i] === '.') {
      name += '.';
      i += 1;
      continue;
    }
    return name;
  }
}
