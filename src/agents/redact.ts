import { Transform, type TransformCallback } from 'node:stream';

export const REDACTED = '[REDACTED]';

/**
 * Values shorter than this are not redacted: replacing every "x" would mangle the stream, and no
 * real key or token is that short.
 */
const MIN_SECRET = 8;

function usable(secrets: readonly string[], min = MIN_SECRET): string[] {
  // Longest first, so a secret that contains another is replaced whole.
  return [...new Set(secrets.filter((s) => s.length >= min))].sort((a, b) => b.length - a.length);
}

export function redactText(text: string, secrets: readonly string[], min = MIN_SECRET): string {
  let out = text;
  for (const s of usable(secrets, min)) out = out.split(s).join(REDACTED);
  return out;
}

/**
 * Replaces secrets in a byte stream. A chunk's tail that could be the start of a secret is held
 * back until the next chunk shows whether it is; any other byte passes at once, so an SSE stream
 * is not delayed.
 */
export class Redactor extends Transform {
  private readonly secrets: Buffer[];
  private carry: Buffer = Buffer.alloc(0);

  constructor(secrets: readonly string[]) {
    super();
    this.secrets = usable(secrets).map((s) => Buffer.from(s));
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    if (this.secrets.length === 0) return done(null, chunk);
    let buf = this.replace(this.carry.length ? Buffer.concat([this.carry, chunk]) : chunk);
    const hold = this.partialTail(buf);
    this.carry = Buffer.from(buf.subarray(buf.length - hold));
    buf = buf.subarray(0, buf.length - hold);
    done(null, buf.length ? buf : undefined);
  }

  override _flush(done: TransformCallback): void {
    done(null, this.carry.length ? this.carry : undefined);
  }

  private replace(buf: Buffer): Buffer {
    for (const s of this.secrets) {
      let at = buf.indexOf(s);
      if (at < 0) continue;
      const parts: Buffer[] = [];
      let from = 0;
      while (at >= 0) {
        parts.push(buf.subarray(from, at), Buffer.from(REDACTED));
        from = at + s.length;
        at = buf.indexOf(s, from);
      }
      parts.push(buf.subarray(from));
      buf = Buffer.concat(parts);
    }
    return buf;
  }

  /** Length of the longest tail of `buf` that is a proper prefix of a secret. */
  private partialTail(buf: Buffer): number {
    let best = 0;
    for (const s of this.secrets) {
      for (let k = Math.min(s.length - 1, buf.length); k > best; k--) {
        if (buf.compare(s, 0, k, buf.length - k, buf.length) === 0) {
          best = k;
          break;
        }
      }
    }
    return best;
  }
}
