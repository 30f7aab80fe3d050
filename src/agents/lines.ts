/** A line longer than this is cut: the CLI's lines carry whole tool results, but not without bound. */
export const LINE_MAX = 4 * 1024 * 1024;

/**
 * Splits a byte stream into UTF-8 lines, holding at most LINE_MAX bytes of an unfinished line;
 * the rest of an over-long line is dropped and the line is handed on cut, flagged.
 */
export class LineSplitter {
  private parts: Buffer[] = [];
  private size = 0;
  private overflow = false;

  constructor(private readonly onLine: (line: string, cut: boolean) => void) {}

  push(chunk: Buffer): void {
    let at = 0;
    for (;;) {
      const nl = chunk.indexOf(0x0a, at);
      if (nl < 0) break;
      this.take(chunk.subarray(at, nl));
      this.emit();
      at = nl + 1;
    }
    if (at < chunk.length) this.take(chunk.subarray(at));
  }

  /** What is left after the stream ended (a last line without a newline). */
  end(): void {
    if (this.size > 0 || this.overflow) this.emit();
  }

  private take(piece: Buffer): void {
    const room = LINE_MAX - this.size;
    if (piece.length > room) {
      this.overflow = true;
      piece = piece.subarray(0, room);
    }
    if (piece.length === 0) return;
    this.parts.push(Buffer.from(piece));
    this.size += piece.length;
  }

  private emit(): void {
    const line = Buffer.concat(this.parts, this.size).toString('utf8');
    const cut = this.overflow;
    this.parts = [];
    this.size = 0;
    this.overflow = false;
    this.onLine(line, cut);
  }
}

