import { PaddockError } from '../../../errors.js';

/** A part's headers past this are refused: a client's part headers are a few hundred bytes. */
const MAX_HEADERS = 16 * 1024;
/** A non-file field (`files[i].path`) past this is refused. */
export const MAX_FIELD = 64 * 1024;

export interface PartSink {
  /** Resolves once the chunk may be followed by the next (the sink's backpressure). */
  write(chunk: Buffer): Promise<void>;
  end(): Promise<void>;
}

export interface PartHandlers {
  /** A part without a filename, whole. */
  field(name: string, value: string): void | Promise<void>;
  /** A part with a filename: where its bytes go. */
  file(name: string, filename: string): Promise<PartSink>;
}

const bad = (why: string) => new PaddockError('validation_failed', `multipart body: ${why}`);

/** `multipart/form-data; boundary=…` → the boundary (RFC 2046: 1–70 characters). */
export function boundaryOf(contentType: string | undefined): string {
  const m = /^multipart\/form-data\s*;.*?\bboundary=(?:"([^"]{1,70})"|([^\s;"]{1,70}))/i.exec(contentType ?? '');
  if (!m) throw new PaddockError('unsupported_media_type', 'the body must be multipart/form-data with a boundary');
  return (m[1] ?? m[2])!;
}

/** `Content-Disposition: form-data; name="…"; filename="…"` of one part's header block. */
function disposition(headers: string): { name: string; filename: string | undefined } {
  const line = headers.split('\r\n').find((l) => /^content-disposition\s*:/i.test(l));
  if (!line) throw bad('a part has no Content-Disposition');
  const param = (key: string) => {
    const m = new RegExp(`;\\s*${key}=(?:"((?:[^"\\\\]|\\\\.)*)"|([^;\\s]*))`, 'i').exec(line);
    return m ? (m[1] !== undefined ? m[1].replace(/\\(.)/g, '$1') : m[2]!) : undefined;
  };
  const name = param('name');
  if (name === undefined) throw bad('a part has no name');
  return { name, filename: param('filename') };
}

/**
 * A streaming multipart/form-data reader: parts are handed on as their bytes arrive, so a file
 * is never held whole; only a boundary's length is kept back between chunks. Fields are capped
 * at MAX_FIELD, headers at MAX_HEADERS; the caller bounds the total.
 */
export class MultipartReader {
  private buf: Buffer = Buffer.alloc(0);
  private state: 'preamble' | 'headers' | 'body' | 'done' = 'preamble';
  private readonly open: Buffer;
  private readonly delim: Buffer;
  private field: { name: string; chunks: Buffer[]; size: number } | undefined;
  private sink: PartSink | undefined;

  constructor(
    boundary: string,
    private readonly handlers: PartHandlers,
  ) {
    this.open = Buffer.from(`--${boundary}`);
    this.delim = Buffer.from(`\r\n--${boundary}`);
  }

  get done(): boolean {
    return this.state === 'done';
  }

  async push(chunk: Buffer): Promise<void> {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    while (await this.step());
  }

  async end(): Promise<void> {
    if (this.state !== 'done') throw bad('it ended before its closing boundary');
  }

  /** One move of the state machine; false when it needs more bytes. */
  private async step(): Promise<boolean> {
    switch (this.state) {
      case 'preamble': {
        const at = this.buf.indexOf(this.open);
        if (at < 0 || this.buf.length < at + this.open.length + 2) return false;
        return this.afterBoundary(at + this.open.length);
      }
      case 'headers': {
        const at = this.buf.indexOf('\r\n\r\n');
        if (at < 0) {
          if (this.buf.length > MAX_HEADERS) throw bad('part headers are too large');
          return false;
        }
        const { name, filename } = disposition(this.buf.subarray(0, at).toString('utf8'));
        this.buf = this.buf.subarray(at + 4);
        if (filename !== undefined) this.sink = await this.handlers.file(name, filename);
        else this.field = { name, chunks: [], size: 0 };
        this.state = 'body';
        return true;
      }
      case 'body': {
        const at = this.buf.indexOf(this.delim);
        // Everything before a delimiter (or before the bytes that may start one) is the part's.
        const upTo = at >= 0 ? at : Math.max(0, this.buf.length - this.delim.length);
        if (upTo > 0) await this.data(this.buf.subarray(0, upTo));
        this.buf = this.buf.subarray(upTo);
        if (at < 0 || this.buf.length < this.delim.length + 2) return false;
        if (!this.terminates(this.delim.length)) {
          // `CRLF--boundary` followed by anything else is the part's own bytes (as busboy reads it).
          await this.data(this.buf.subarray(0, 1));
          this.buf = this.buf.subarray(1);
          return true;
        }
        await this.endPart();
        return this.afterBoundary(this.delim.length);
      }
      default:
        return false;
    }
  }

  private terminates(at: number): boolean {
    const next = this.buf.subarray(at, at + 2).toString('latin1');
    return next === '--' || next === '\r\n';
  }

  /** After a boundary: CRLF and the next part's headers, or `--` and the end. */
  private afterBoundary(at: number): boolean {
    const next = this.buf.subarray(at, at + 2).toString('latin1');
    if (next === '--') {
      this.state = 'done';
      this.buf = Buffer.alloc(0);
      return false;
    }
    if (next !== '\r\n') throw bad('a boundary is not followed by CRLF');
    this.buf = this.buf.subarray(at + 2);
    this.state = 'headers';
    return true;
  }

  private async data(bytes: Buffer): Promise<void> {
    if (this.sink) return this.sink.write(Buffer.from(bytes));
    const f = this.field!;
    f.size += bytes.length;
    if (f.size > MAX_FIELD) throw bad(`field ${f.name} is larger than ${MAX_FIELD} bytes`);
    f.chunks.push(Buffer.from(bytes));
  }

  private async endPart(): Promise<void> {
    if (this.sink) {
      const sink = this.sink;
      this.sink = undefined;
      return sink.end();
    }
    const f = this.field!;
    this.field = undefined;
    await this.handlers.field(f.name, Buffer.concat(f.chunks).toString('utf8'));
  }
}

/** A quoted-string parameter value (RFC 7578 §4.2 as busboy reads it): backslash before `"` and `\`. */
export const quoted = (s: string) => `"${s.replace(/[\\"]/g, (c) => `\\${c}`)}"`;

/** The head of one part of a multipart response. */
export function partHead(boundary: string, name: string, filename: string, type: string, length?: number): Buffer {
  const lines = [`--${boundary}`, `Content-Disposition: form-data; name=${quoted(name)}; filename=${quoted(filename)}`, `Content-Type: ${type}`];
  if (length !== undefined) lines.push(`Content-Length: ${length}`);
  return Buffer.from(`${lines.join('\r\n')}\r\n\r\n`);
}
