import { StringDecoder } from 'node:string_decoder';
import { Transform, type TransformCallback } from 'node:stream';
import type { ResponseMeter } from './usage.js';

export interface StreamError {
  type: string;
  message: string;
}

/** Longest SSE line kept for parsing; usage events are small, longer lines (big deltas) are skipped. */
const MAX_LINE = 1024 * 1024;
/** Largest non-streaming body kept to read its usage. */
const MAX_JSON = 8 * 1024 * 1024;

/**
 * Passes an SSE response through unchanged while reading its usage: `message_start` (model and
 * input tokens), `message_delta` (output so far) and `error` events. Only lines that can be one
 * of those are parsed, so text and tool-input deltas cost no JSON.parse.
 */
export class SseUsageTap extends Transform {
  private readonly decoder = new StringDecoder('utf8');
  private line = '';
  private skipping = false;

  constructor(
    private readonly meter: ResponseMeter,
    private readonly onError: (e: StreamError) => void,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.scan(this.decoder.write(chunk));
    done(null, chunk);
  }

  override _flush(done: TransformCallback): void {
    this.scan(this.decoder.end() + '\n');
    done();
  }

  private scan(text: string): void {
    let from = 0;
    for (let nl = text.indexOf('\n'); nl >= 0; nl = text.indexOf('\n', from)) {
      if (!this.skipping) this.onLine(this.line + text.slice(from, nl));
      this.line = '';
      this.skipping = false;
      from = nl + 1;
    }
    if (this.skipping) return;
    this.line += text.slice(from);
    if (this.line.length > MAX_LINE) {
      this.line = '';
      this.skipping = true;
    }
  }

  private onLine(raw: string): void {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (!line.startsWith('data:')) return;
    const head = line.slice(0, 80);
    if (!head.includes('message_start') && !head.includes('message_delta') && !head.includes('"error"')) return;
    let event: any;
    try {
      event = JSON.parse(line.slice(5));
    } catch {
      return; // a broken line is the client's to notice; usage stays what was read
    }
    if (typeof event !== 'object' || event === null) return;
    if (event.type === 'message_start') {
      if (typeof event.message?.model === 'string') this.meter.model(event.message.model);
      this.meter.report(event.message?.usage);
    } else if (event.type === 'message_delta') {
      this.meter.report(event.usage);
    } else if (event.type === 'error') {
      this.onError(errorOf(event));
    }
  }
}

/** Passes a JSON message through and reads its model and usage at the end. */
export class JsonUsageTap extends Transform {
  private chunks: Buffer[] = [];
  private size = 0;

  constructor(private readonly meter: ResponseMeter) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.size += chunk.length;
    if (this.size <= MAX_JSON) this.chunks.push(chunk);
    else this.chunks = [];
    done(null, chunk);
  }

  override _flush(done: TransformCallback): void {
    if (this.size <= MAX_JSON) {
      try {
        const msg = JSON.parse(Buffer.concat(this.chunks).toString('utf8'));
        if (typeof msg?.model === 'string') this.meter.model(msg.model);
        this.meter.report(msg?.usage);
      } catch {
        // not a message: nothing to count
      }
    }
    done();
  }
}

/** Anthropic's `{type:"error", error:{type, message}}`, or a generic api_error. */
export function errorOf(body: unknown): StreamError {
  const e = (body as { error?: { type?: unknown; message?: unknown } } | null)?.error;
  return {
    type: typeof e?.type === 'string' ? e.type.slice(0, 100) : 'api_error',
    message: typeof e?.message === 'string' ? e.message.slice(0, 2000) : 'the model API answered with an error',
  };
}
