import type { TestRunner } from './runner.js';

export interface SseEvent {
  id: number;
  event: string;
  data: any;
  /** Field names of the frame in order, to check the wire format. */
  fields: string[];
  /** Date.now() when the frame was received. */
  at: number;
}

export interface SseRead {
  status: number;
  contentType: string | null;
  /** Date.now() when the response headers arrived; undefined when they did not in time. */
  headersAt: number | undefined;
  events: SseEvent[];
  /** True when the server closed the stream; false when we stopped reading (timeout or `until`). */
  ended: boolean;
  /** The body, for a non-200 answer. */
  text?: string;
}

function parseFrame(frame: string, at: number): SseEvent | undefined {
  const lines = frame.split('\n').filter((l) => l !== '' && !l.startsWith(':'));
  if (lines.length === 0) return undefined; // keepalive comment
  const e: SseEvent = { id: NaN, event: '', data: undefined, fields: [], at };
  for (const line of lines) {
    const colon = line.indexOf(':');
    const field = line.slice(0, colon);
    const value = line.slice(colon + 1).replace(/^ /, '');
    e.fields.push(field);
    if (field === 'id') e.id = Number(value);
    else if (field === 'event') e.event = value;
    else if (field === 'data') e.data = JSON.parse(value);
  }
  return e;
}

/**
 * Reads GET /v1/jobs/:id/events until the server closes the stream, `until`
 * says stop, or `timeoutMs` passes.
 */
export async function readEvents(
  r: TestRunner,
  jobId: string,
  opts: {
    query?: string;
    lastEventId?: number;
    token?: string;
    timeoutMs?: number;
    until?: (e: SseEvent) => boolean;
  } = {},
): Promise<SseRead> {
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), opts.timeoutMs ?? 20_000);
  const headers: Record<string, string> = { authorization: `Bearer ${opts.token ?? r.token}` };
  if (opts.lastEventId !== undefined) headers['last-event-id'] = String(opts.lastEventId);
  try {
    let res: Response;
    try {
      res = await fetch(`${r.url}/v1/jobs/${jobId}/events${opts.query ?? ''}`, { headers, signal: ac.signal });
    } catch (err) {
      if (!ac.signal.aborted) throw err;
      const text = 'no response headers before the timeout';
      return { status: 0, contentType: null, headersAt: undefined, events: [], ended: false, text };
    }
    const out: SseRead = {
      status: res.status,
      contentType: res.headers.get('content-type'),
      headersAt: Date.now(),
      events: [],
      ended: false,
    };
    if (res.status !== 200) return { ...out, ended: true, text: await res.text() };
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = '';
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return { ...out, ended: true };
        buffer += value;
        let cut;
        while ((cut = buffer.indexOf('\n\n')) >= 0) {
          const e = parseFrame(buffer.slice(0, cut), Date.now());
          buffer = buffer.slice(cut + 2);
          if (!e) continue;
          out.events.push(e);
          if (opts.until?.(e)) {
            ac.abort();
            return out;
          }
        }
      }
    } catch (err) {
      if (ac.signal.aborted) return out; // timed out while reading
      throw err;
    }
  } finally {
    clearTimeout(timer);
  }
}

/** Text of all `stdout` (or `stderr`) events, in order. */
export const joined = (events: SseEvent[], stream: 'stdout' | 'stderr'): string =>
  events.filter((e) => e.event === stream).map((e) => e.data.data as string).join('');
