import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import { DEFAULT_PRICES } from '../../config/agents.js';
import { JsonUsageTap, SseUsageTap, type StreamError } from './usage-tap.js';
import { emptyUsage, ResponseMeter } from './usage.js';

const ev = (type: string, data: unknown) => `event: ${type}\ndata: ${JSON.stringify(data)}\n\n`;

async function run(tap: NodeJS.ReadWriteStream, chunks: string[]): Promise<string> {
  let out = '';
  const sink = new Writable({ write: (c, _e, cb) => ((out += c), cb()) });
  await pipeline(Readable.from(chunks.map((c) => Buffer.from(c))), tap, sink);
  return out;
}

describe('SseUsageTap', () => {
  it('reads usage from events split anywhere, and passes the bytes unchanged', async () => {
    const totals = emptyUsage();
    const errors: StreamError[] = [];
    const stream =
      ev('message_start', { type: 'message_start', message: { model: 'claude-sonnet-4-5', usage: { input_tokens: 40, output_tokens: 1, cache_creation_input_tokens: 7 } } }) +
      ev('content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'message_delta "usage"' } }) +
      ev('message_delta', { type: 'message_delta', delta: { stop_reason: 'end_turn' }, usage: { output_tokens: 30 } }) +
      ev('error', { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } }).replace('\n', '\r\n');
    const chunks = stream.match(/[\s\S]{1,7}/g)!;
    const out = await run(new SseUsageTap(new ResponseMeter(totals, DEFAULT_PRICES), (e) => errors.push(e)), chunks);
    expect(out).toBe(stream);
    expect(totals).toMatchObject({ input_tokens: 40, output_tokens: 30, cache_creation_input_tokens: 7 });
    expect(totals.cost_usd).toBeCloseTo((40 * 3 + 30 * 15 + 7 * 3.75) / 1e6, 12);
    expect(errors).toEqual([{ type: 'overloaded_error', message: 'Overloaded' }]);
  });

  it('skips a line past its limit without buffering it, and keeps reading after it', async () => {
    const totals = emptyUsage();
    const big = 'data: ' + 'x'.repeat(3 * 1024 * 1024) + '\n\n';
    const tail = ev('message_delta', { type: 'message_delta', usage: { output_tokens: 5 } });
    await run(new SseUsageTap(new ResponseMeter(totals, DEFAULT_PRICES), () => {}), [...big.match(/[\s\S]{1,65536}/g)!, tail]);
    expect(totals.output_tokens).toBe(5);
  });
});

describe('JsonUsageTap', () => {
  it('reads a message body at its end', async () => {
    const totals = emptyUsage();
    const body = JSON.stringify({ type: 'message', model: 'claude-opus-4-1', usage: { input_tokens: 10, output_tokens: 20 } });
    await run(new JsonUsageTap(new ResponseMeter(totals, DEFAULT_PRICES)), [body.slice(0, 9), body.slice(9)]);
    expect(totals.output_tokens).toBe(20);
    expect(totals.cost_usd).toBeCloseTo((10 * 15 + 20 * 75) / 1e6, 12);
  });
});
