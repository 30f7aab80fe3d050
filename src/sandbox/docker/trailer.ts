/** What may follow the mark: a shell exit status, 0–255, then a newline. */
const CODE = /^(?:0|[1-9]\d{0,2})$/;
/** Longest valid code plus its newline: "255\n". */
const CODE_MAX = 4;

/** Parses an exit status strictly: decimal digits only, 0–255; anything else is null. */
export function parseExitStatus(text: string): number | null {
  if (!CODE.test(text)) return null;
  const n = Number(text);
  return n <= 255 ? n : null;
}

/**
 * Finds the launcher's end-of-job trailer (`<mark> <exit code>\n`) in one output
 * stream and passes everything else through. Only a mark followed by a valid
 * exit status (0–255) and a newline is a trailer; anything else is output like
 * any other and goes to `emit`, so every byte that is not the trailer is counted.
 * At most the mark plus four bytes are held back (until they cannot be the
 * start of the trailer), so the trailer never leaks into the job's output,
 * however the stream is chunked.
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
    let buf = this.held.length ? Buffer.concat([this.held, chunk]) : chunk;
    this.held = Buffer.alloc(0);
    for (;;) {
      const at = buf.indexOf(this.mark);
      if (at < 0) break;
      const rest = buf.subarray(at + this.mark.length);
      const nl = rest.subarray(0, CODE_MAX).indexOf(0x0a);
      if (nl < 0 && rest.length < CODE_MAX) {
        // Mark seen, code not complete yet: keep from the mark on (bounded).
        if (at > 0) this.emit(buf.subarray(0, at));
        this.held = Buffer.from(buf.subarray(at));
        return;
      }
      const code = nl < 0 ? null : parseExitStatus(rest.subarray(0, nl).toString('latin1'));
      if (code !== null) {
        if (at > 0) this.emit(buf.subarray(0, at));
        this.code = code;
        return;
      }
      // Not a trailer: the mark's first byte is output, and scanning goes on after it.
      this.emit(buf.subarray(0, at + 1));
      buf = buf.subarray(at + 1);
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
