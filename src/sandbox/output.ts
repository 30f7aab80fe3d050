/**
 * Keeps up to `limit` bytes of one output stream and reports whether more came.
 * Text is decoded as UTF-8 without splitting a multi-byte character at the cap.
 */
export class OutputCapture {
  private readonly chunks: Buffer[] = [];
  private kept = 0;
  truncated = false;

  constructor(private readonly limit: number) {}

  /** Returns the part of `chunk` that fits (possibly empty) and marks truncation. */
  push(chunk: Buffer): Buffer {
    const room = this.limit - this.kept;
    if (chunk.length <= room) {
      this.chunks.push(chunk);
      this.kept += chunk.length;
      return chunk;
    }
    this.truncated = true;
    const part = chunk.subarray(0, utf8Boundary(chunk, Math.max(room, 0)));
    if (part.length > 0) {
      this.chunks.push(part);
      this.kept += part.length;
    }
    return part;
  }

  text(): string {
    return new TextDecoder('utf-8').decode(Buffer.concat(this.chunks, this.kept));
  }
}

/** Largest cut ≤ `at` that does not split a UTF-8 sequence that starts before it. */
export function utf8Boundary(buf: Buffer, at: number): number {
  if (at >= buf.length) return buf.length;
  let i = at;
  // Step back over continuation bytes (10xxxxxx) to the lead byte, at most 3.
  while (i > 0 && at - i < 3 && (buf[i]! & 0xc0) === 0x80) i--;
  return i;
}

/** Decodes a stream of chunks to text without breaking characters across chunks. */
export function streamDecoder(): (chunk: Buffer) => string {
  const decoder = new TextDecoder('utf-8');
  return (chunk) => decoder.decode(chunk, { stream: true });
}
