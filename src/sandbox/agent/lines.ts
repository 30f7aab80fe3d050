import { protocolError } from './errors.js';

/** Longest JSON line accepted: an entry with a 4096-byte path and target, all \u-escaped, fits. */
export const MAX_LINE = 65536;

/** Splits bytes into '\n'-terminated lines, holding at most MAX_LINE bytes of a partial line. */
export class LineSplitter {
  private partial: Buffer[] = [];
  private partialLen = 0;

  push(chunk: Buffer): Buffer[] {
    const lines: Buffer[] = [];
    let start = 0;
    for (let nl = chunk.indexOf(10, start); nl !== -1; nl = chunk.indexOf(10, start)) {
      this.add(chunk.subarray(start, nl));
      lines.push(Buffer.concat(this.partial, this.partialLen));
      this.partial = [];
      this.partialLen = 0;
      start = nl + 1;
    }
    if (start < chunk.length) this.add(chunk.subarray(start));
    return lines;
  }

  /** What is left at the end: a last line without '\n' is taken as a line too. */
  end(): Buffer | null {
    if (this.partialLen === 0) return null;
    const last = Buffer.concat(this.partial, this.partialLen);
    this.partial = [];
    this.partialLen = 0;
    return last;
  }

  private add(piece: Buffer): void {
    if (this.partialLen + piece.length > MAX_LINE) throw protocolError(`a line is longer than ${MAX_LINE} bytes`);
    // Copied: a piece may be a slice of a larger chunk that should not stay alive with it.
    if (piece.length > 0) this.partial.push(Buffer.from(piece));
    this.partialLen += piece.length;
  }
}
