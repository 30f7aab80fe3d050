import { randomBytes } from 'node:crypto';
import type http from 'node:http';
import type { Turn } from './fake-anthropic.js';

/** How the fake Anthropic API answers one Turn: SSE events or a JSON message, errors and broken streams. */
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function requestId(): string {
  return `req_${randomBytes(12).toString('hex')}`;
}

function commonHeaders(): Record<string, string> {
  return {
    'request-id': requestId(),
    'anthropic-ratelimit-requests-limit': '4000',
    'anthropic-ratelimit-requests-remaining': '3999',
    'anthropic-ratelimit-requests-reset': new Date(Date.now() + 60_000).toISOString(),
  };
}

export function json(res: http.ServerResponse, status: number, body: unknown, extra: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { ...commonHeaders(), 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...extra });
  res.end(text);
}

export function errorJson(res: http.ServerResponse, status: number, type: string, message: string, extra: Record<string, string> = {}): void {
  json(res, status, { type: 'error', error: { type, message }, request_id: requestId() }, extra);
}

/** A rough count (4 characters a token), enough for usage figures that vary with the request. */
export function estimateTokens(body: unknown): number {
  if (typeof body !== 'object' || body === null) return 1;
  const b = body as { messages?: unknown; system?: unknown; tools?: unknown };
  return Math.max(1, Math.ceil(JSON.stringify([b.system, b.messages, b.tools]).length / 4));
}

type MessageTurn = Extract<Turn, { text?: string }>;

export async function play(turn: Turn, res: http.ServerResponse, stream: boolean, model: string, inputTokens: number): Promise<void> {
  if ('error' in turn) {
    const extra: Record<string, string> = {};
    if (turn.retry_after_s !== undefined || turn.error.status === 429) extra['retry-after'] = String(turn.retry_after_s ?? 1);
    errorJson(res, turn.error.status, turn.error.type, turn.error.message, extra);
    return;
  }
  if ('malformed' in turn) {
    if (!stream) {
      res.writeHead(200, { ...commonHeaders(), 'content-type': 'application/json' });
      res.write('{"id":"msg_01","type":"message","role":"assistant","content":[{"type":"te');
      await sleep(20);
      res.socket?.destroy();
      return;
    }
    res.writeHead(200, { ...commonHeaders(), 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    res.write(sse('message_start', messageStart(model, inputTokens)));
    res.write('event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_del\n\n');
    await sleep(20);
    res.socket?.destroy();
    return;
  }
  if ('hang' in turn) {
    res.writeHead(200, { ...commonHeaders(), 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    res.flushHeaders();
    return;
  }
  await playMessage(turn, res, stream, model, inputTokens);
}

function blocks(turn: MessageTurn): Array<Record<string, unknown>> {
  const out: Array<Record<string, unknown>> = [];
  if (turn.text !== undefined || turn.tool_use === undefined) out.push({ type: 'text', text: turn.text ?? '' });
  if (turn.tool_use) {
    const id = turn.tool_use.id ?? `toolu_${randomBytes(12).toString('hex')}`;
    out.push({ type: 'tool_use', id, name: turn.tool_use.name, input: turn.tool_use.input });
  }
  return out;
}

function usageOf(turn: MessageTurn, inputTokens: number) {
  return {
    input_tokens: turn.usage?.input_tokens ?? inputTokens,
    cache_creation_input_tokens: turn.usage?.cache_creation_input_tokens ?? 0,
    cache_read_input_tokens: turn.usage?.cache_read_input_tokens ?? 0,
    output_tokens: turn.usage?.output_tokens ?? 10,
  };
}

function messageStart(model: string, inputTokens: number, usage?: ReturnType<typeof usageOf>) {
  return {
    type: 'message_start',
    message: {
      id: `msg_${randomBytes(12).toString('hex')}`,
      type: 'message',
      role: 'assistant',
      model,
      content: [],
      stop_reason: null,
      stop_sequence: null,
      // message_start carries the input side and a placeholder output count; message_delta the final (cumulative) output.
      usage: {
        input_tokens: usage?.input_tokens ?? inputTokens,
        cache_creation_input_tokens: usage?.cache_creation_input_tokens ?? 0,
        cache_read_input_tokens: usage?.cache_read_input_tokens ?? 0,
        output_tokens: 1,
        service_tier: 'standard',
      },
    },
  };
}

function sse(event: string, data: unknown): string {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

async function playMessage(turn: MessageTurn, res: http.ServerResponse, stream: boolean, model: string, inputTokens: number): Promise<void> {
  const content = blocks(turn);
  const usage = usageOf(turn, inputTokens);
  const stop = turn.stop_reason ?? (turn.tool_use ? 'tool_use' : 'end_turn');
  const m = turn.model ?? model;
  if (!stream) {
    if (turn.delay_ms) await sleep(turn.delay_ms);
    json(res, 200, {
      id: `msg_${randomBytes(12).toString('hex')}`,
      type: 'message',
      role: 'assistant',
      model: m,
      content,
      stop_reason: stop,
      stop_sequence: null,
      usage,
    });
    return;
  }
  const events: string[] = [sse('message_start', messageStart(m, inputTokens, usage))];
  content.forEach((block, index) => {
    if (block.type === 'text') {
      events.push(sse('content_block_start', { type: 'content_block_start', index, content_block: { type: 'text', text: '' } }));
      if (index === 0) events.push(sse('ping', { type: 'ping' }));
      for (const piece of split(String(block.text), 3)) {
        events.push(sse('content_block_delta', { type: 'content_block_delta', index, delta: { type: 'text_delta', text: piece } }));
      }
    } else {
      events.push(
        sse('content_block_start', {
          type: 'content_block_start',
          index,
          content_block: { type: 'tool_use', id: block.id, name: block.name, input: {} },
        }),
      );
      // input_json_delta carries partial JSON; the client joins the pieces and parses at content_block_stop.
      for (const piece of split(JSON.stringify(block.input), 3)) {
        events.push(
          sse('content_block_delta', { type: 'content_block_delta', index, delta: { type: 'input_json_delta', partial_json: piece } }),
        );
      }
    }
    events.push(sse('content_block_stop', { type: 'content_block_stop', index }));
  });
  events.push(
    sse('message_delta', {
      type: 'message_delta',
      delta: { stop_reason: stop, stop_sequence: null },
      usage: { output_tokens: usage.output_tokens },
    }),
  );
  events.push(sse('message_stop', { type: 'message_stop' }));

  const gap = turn.delay_ms ? turn.delay_ms / (events.length + 1) : 0;
  if (gap) await sleep(gap);
  res.writeHead(200, { ...commonHeaders(), 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  for (const e of events) {
    if (res.destroyed) return;
    res.write(e);
    if (gap) await sleep(gap);
  }
  res.end();
}

function split(s: string, parts: number): string[] {
  if (s.length <= parts) return [s];
  const size = Math.ceil(s.length / parts);
  const out: string[] = [];
  for (let i = 0; i < s.length; i += size) out.push(s.slice(i, i + size));
  return out;
}
