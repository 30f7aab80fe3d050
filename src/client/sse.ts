import { PaddockError } from '../errors.js';

/** One dispatched Server-Sent Event, as the HTML living standard defines it. */
export interface SseMessage {
  /** The last event id seen on this stream (ids persist across events, as in EventSource). */
  id: string | undefined;
  event: string;
  data: string;
  /** A `retry:` field's reconnection delay, if the server sent one since the last event. */
  retry?: number;
}

export interface SseLimits {
  /** One line (field name and value) at most this many bytes. */
  maxLineBytes?: number;
  /** One event's data lines together at most this many bytes. */
  maxEventBytes?: number;
}

/** The runner's events are ≤ 64 KiB of text; these leave room and still bound what a bad peer can make us hold. */
export const DEFAULT_SSE_LIMITS: Required<SseLimits> = { maxLineBytes: 1024 * 1024, maxEventBytes: 4 * 1024 * 1024 };

const LF = 0x0a;
const CR = 0x0d;

/**
 * Reads a text/event-stream. Works on bytes: a line is cut at LF, CR or CRLF
 * (none of which occur inside a UTF-8 sequence), so chunks may split anywhere,
 * and a line or event over its limit is refused before it is held whole.
 */
export async function* readSse(
  source: AsyncIterable<Uint8Array> | ReadableStream<Uint8Array>,
  limits: SseLimits = {},
): AsyncGenerator<SseMessage> {
  const maxLine = limits.maxLineBytes ?? DEFAULT_SSE_LIMITS.maxLineBytes;
  const maxEvent = limits.maxEventBytes ?? DEFAULT_SSE_LIMITS.maxEventBytes;
  // BOMs are handled below: only one at the very start of the stream is dropped.
  const utf8 = new TextDecoder('utf-8', { ignoreBOM: true });
  let partial: Uint8Array[] = [];
  let partialBytes = 0;
  let afterCr = false; // the last chunk ended in CR: an LF first thing in the next one belongs to it
  let first = true;

  let lastId: string | undefined;
  let event = '';
  let data: string[] = [];
  let dataBytes = 0;
  let retry: number | undefined;

  /** Handles one complete line; returns a message when the line was blank and data was pending. */
  const line = (bytes: Uint8Array): SseMessage | undefined => {
    if (first && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) bytes = bytes.subarray(3);
    first = false;
    const text = utf8.decode(bytes);
    if (text === '') {
      if (data.length === 0) {
        event = ''; // a `retry:` stays: it applies to the stream, and goes out with the next event
        return undefined;
      }
      const msg: SseMessage = { id: lastId, event: event || 'message', data: data.join('\n') };
      if (retry !== undefined) msg.retry = retry;
      event = '';
      data = [];
      dataBytes = 0;
      retry = undefined;
      return msg;
    }
    if (text.startsWith(':')) return undefined;
    const colon = text.indexOf(':');
    const field = colon < 0 ? text : text.slice(0, colon);
    let value = colon < 0 ? '' : text.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') {
      dataBytes += bytes.byteLength + 1;
      if (dataBytes > maxEvent) throw tooLarge(`an event over ${maxEvent} bytes`);
      data.push(value);
    } else if (field === 'event') event = value;
    else if (field === 'id') {
      if (!value.includes('\0')) lastId = value;
    } else if (field === 'retry') {
      if (/^\d+$/.test(value)) retry = Number(value);
    }
    return undefined;
  };

  const takeLine = (tail: Uint8Array): Uint8Array => {
    let bytes: Uint8Array;
    if (partial.length === 0) bytes = tail;
    else {
      bytes = concat([...partial, tail], partialBytes + tail.byteLength);
      partial = [];
      partialBytes = 0;
    }
    if (bytes.byteLength > maxLine) throw tooLarge(`a line over ${maxLine} bytes`);
    return bytes;
  };

  for await (const chunk of source as AsyncIterable<Uint8Array>) {
    let start = 0;
    if (afterCr && chunk.byteLength > 0) {
      if (chunk[0] === LF) start = 1;
      afterCr = false;
    }
    for (let i = start; i < chunk.byteLength; i++) {
      const b = chunk[i];
      if (b !== LF && b !== CR) continue;
      const msg = line(takeLine(chunk.subarray(start, i)));
      if (b === CR) {
        if (i + 1 < chunk.byteLength) {
          if (chunk[i + 1] === LF) i++;
        } else afterCr = true;
      }
      start = i + 1;
      if (msg) yield msg;
    }
    if (start < chunk.byteLength) {
      const rest = chunk.subarray(start);
      partialBytes += rest.byteLength;
      if (partialBytes > maxLine) throw tooLarge(`a line over ${maxLine} bytes`);
      // Copied: the source may reuse its chunk's memory once we ask for the next.
      partial.push(rest.slice());
    }
  }
  // A stream that ends mid-event drops that event (as EventSource does): it was never complete.
}

function concat(parts: Uint8Array[], size: number): Uint8Array {
  const out = new Uint8Array(size);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}

function tooLarge(what: string): PaddockError {
  return new PaddockError('payload_too_large', `the event stream sent ${what}; stopped reading it`);
}
