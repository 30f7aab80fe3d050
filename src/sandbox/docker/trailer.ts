/**
 * Finds the launcher's end-of-job trailer (`<mark> <exit code>\n`) in one output
 * stream and passes everything before it through. The tail of the stream is held
 * back until it cannot be the start of the trailer, so the trailer never leaks
 * into the job's output, however the stream is chunked.
 */
export class TrailerScanner {
  private held: Buffer = Buffer.alloc(0);
  private readonly mark: Buffer;
  /** The exit code once the trailer has been seen; later bytes are ignored. */
  code: number | undefined;

  constructor(mark: string, private readonly emit: (chunk: Buffer) => void) {
    this.mark = Buffer.from(`${mark} `);
  }

  push(chunk: Buffer): void {
    if (this.code !== undefined) return;
    const buf = this.held.length ? Buffer.concat([this.held, chunk]) : chunk;
    const at = buf.indexOf(this.mark);
    if (at >= 0) {
      const end = buf.indexOf(0x0a, at + this.mark.length);
      if (end >= 0) {
        if (at > 0) this.emit(buf.subarray(0, at));
        this.code = Number(buf.subarray(at + this.mark.length, end).toString());
        this.held = Buffer.alloc(0);
        return;
      }
      // Mark seen, code not complete yet: keep from the mark on.
      if (at > 0) this.emit(buf.subarray(0, at));
      this.held = Buffer.from(buf.subarray(at));
      return;
    }
    // Keep as much of the tail as could still be a prefix of the mark.
    const keep = Math.min(buf.length, this.mark.length - 1);
    let cut = buf.length;
    for (let k = keep; k > 0; k--) {
      if (buf.subarray(buf.length - k).equals(this.mark.subarray(0, k))) {
        cut = buf.length - k;
        break;
      }
    }
    if (cut > 0) this.emit(buf.subarray(0, cut));
    this.held = Buffer.from(buf.subarray(cut));
  }

  /** The stream ended without a trailer: what was held back is output after all. */
  flush(): void {
    if (this.code === undefined && this.held.length) this.emit(this.held);
    this.held = Buffer.alloc(0);
  }
}
