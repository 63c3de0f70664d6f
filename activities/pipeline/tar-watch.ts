// Watches a tar stream go by and keeps the contents of a few named entries (backup_label, backup_manifest).
import { Transform, type TransformCallback } from 'node:stream';

const BLOCK = 512;

export class TarWatcher extends Transform {
  /** Contents of the watched entries seen so far, by name. */
  readonly found = new Map<string, Buffer>();
  private header = Buffer.alloc(0); // bytes of a header being assembled
  private remaining = 0; // bytes left of the current entry's data, padding included
  private dataLeft = 0; // of which data (not padding)
  private keep: Buffer[] | undefined; // chunks of a watched entry's data
  private keepName = '';
  private ended = false; // two zero blocks seen

  constructor(private readonly watched: Set<string>) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    let offset = 0;
    while (offset < chunk.length && !this.ended) {
      if (this.remaining > 0) {
        const take = Math.min(this.remaining, chunk.length - offset);
        const data = Math.min(take, this.dataLeft);
        if (this.keep && data > 0) this.keep.push(Buffer.from(chunk.subarray(offset, offset + data)));
        this.dataLeft -= data;
        this.remaining -= take;
        offset += take;
        if (this.remaining === 0 && this.keep) {
          this.found.set(this.keepName, Buffer.concat(this.keep));
          this.keep = undefined;
        }
        continue;
      }
      const need = BLOCK - this.header.length;
      const piece = chunk.subarray(offset, offset + need);
      this.header = Buffer.concat([this.header, piece]);
      offset += piece.length;
      if (this.header.length < BLOCK) break;
      this.startEntry(this.header);
      this.header = Buffer.alloc(0);
    }
    callback(null, chunk);
  }

  private startEntry(header: Buffer): void {
    if (header.every((b) => b === 0)) {
      this.ended = true; // end-of-archive marker (the rest is padding)
      return;
    }
    const text = (from: number, to: number) => header.subarray(from, to).toString('utf8').replace(/\0.*$/s, '');
    const prefix = header.subarray(257, 263).toString('latin1').startsWith('ustar') ? text(345, 500) : '';
    const name = (prefix ? `${prefix}/` : '') + text(0, 100);
    const size = parseInt(text(124, 136).trim() || '0', 8);
    this.dataLeft = size;
    this.remaining = Math.ceil(size / BLOCK) * BLOCK;
    const plain = name.replace(/^\.\//, '');
    if (this.watched.has(plain)) {
      this.keep = [];
      this.keepName = plain;
      if (size === 0) {
        this.found.set(plain, Buffer.alloc(0));
        this.keep = undefined;
      }
    }
  }
}
