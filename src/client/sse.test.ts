import { describe, expect, it } from 'vitest';
import { PaddockError } from '../errors.js';
import { readSse, type SseMessage } from './sse.js';

const utf8 = new TextEncoder();

async function* chunks(parts: (string | Uint8Array)[]): AsyncGenerator<Uint8Array> {
  for (const p of parts) yield typeof p === 'string' ? utf8.encode(p) : p;
}

async function collect(parts: (string | Uint8Array)[], limits = {}): Promise<SseMessage[]> {
  const out: SseMessage[] = [];
  for await (const m of readSse(chunks(parts), limits)) out.push(m);
  return out;
}

/** Every way of cutting `bytes` in two, and into single bytes. */
function splits(bytes: Uint8Array): Uint8Array[][] {
  const ways: Uint8Array[][] = [];
  for (let i = 0; i <= bytes.length; i++) ways.push([bytes.slice(0, i), bytes.slice(i)]);
  ways.push([...bytes].map((b) => Uint8Array.of(b)));
  return ways;
}

describe('readSse', () => {
  it('reads id, event and data fields; ids persist; comments and unknown fields are skipped', async () => {
    const got = await collect([': hello\n', 'id: 1\nevent: state\ndata: {"a":1}\nfoo: bar\n\n', 'data: x\n\n']);
    expect(got).toEqual([
      { id: '1', event: 'state', data: '{"a":1}' },
      { id: '1', event: 'message', data: 'x' },
    ]);
  });

  it('joins data lines with LF, takes one leading space off a value, and reads a field with no colon', async () => {
    const got = await collect(['data:  two spaces\ndata\ndata:last\n\n']);
    expect(got).toEqual([{ id: undefined, event: 'message', data: ' two spaces\n\nlast' }]);
  });

  it('ends lines at LF, CR or CRLF, also when a chunk ends between CR and LF', async () => {
    const text = 'id: 7\r\nevent: a\rdata: one\r\n\r\ndata: two\n\r\n';
    for (const parts of splits(utf8.encode(text))) {
      expect(await collect(parts)).toEqual([
        { id: '7', event: 'a', data: 'one' },
        { id: '7', event: 'message', data: 'two' },
      ]);
    }
  });

  it('decodes UTF-8 that a chunk boundary splits, and drops only a BOM at the very start', async () => {
    const text = '\uFEFFdata: h\u00e9 \u20ac \u{1F600}\n\ndata: \uFEFFkeep\n\n';
    for (const parts of splits(utf8.encode(text))) {
      expect((await collect(parts)).map((m) => m.data)).toEqual(['h\u00e9 \u20ac \u{1F600}', '\uFEFFkeep']);
    }
  });

  it('does not dispatch an event without data, and resets its type', async () => {
    expect(await collect(['event: ping\n\ndata: x\n\n'])).toEqual([{ id: undefined, event: 'message', data: 'x' }]);
  });

  it('drops an event the stream ends in the middle of', async () => {
    expect(await collect(['data: whole\n\n', 'data: cut'])).toEqual([{ id: undefined, event: 'message', data: 'whole' }]);
  });

  it('ignores an id with NUL; reads retry only as digits and keeps it, without data, for the next event', async () => {
    const got = await collect(['id: 1\n\n', 'id: a\0b\nretry: x\ndata: 1\n\n', 'retry: 1500\n\n', 'data: 2\n\n', 'data: 3\n\n']);
    expect(got).toEqual([
      { id: '1', event: 'message', data: '1' },
      { id: '1', event: 'message', data: '2', retry: 1500 },
      { id: '1', event: 'message', data: '3' },
    ]);
  });

  it('refuses a line over maxLineBytes before it has it whole', async () => {
    let pulled = 0;
    async function* endless(): AsyncGenerator<Uint8Array> {
      for (;;) {
        pulled++;
        yield new Uint8Array(1024).fill(0x61);
      }
    }
    const read = async () => {
      for await (const _ of readSse(endless(), { maxLineBytes: 10_000 })) void _;
    };
    await expect(read()).rejects.toThrow(/a line over 10000 bytes/);
    expect(pulled).toBeLessThanOrEqual(11);
  });

  it('takes a line of exactly maxLineBytes, in pieces', async () => {
    const line = `data: ${'x'.repeat(94)}`; // 100 bytes
    const got = await collect([line.slice(0, 30), line.slice(30), '\n\n'], { maxLineBytes: 100 });
    expect(got[0]!.data).toHaveLength(94);
  });

  it('refuses an event whose data lines together pass maxEventBytes', async () => {
    const many = Array.from({ length: 50 }, () => 'data: 0123456789\n').join('');
    const err = await collect([many, '\n'], { maxLineBytes: 100, maxEventBytes: 300 }).catch((e) => e);
    expect(err).toBeInstanceOf(PaddockError);
    expect((err as PaddockError).code).toBe('payload_too_large');
    // Under the cap the same lines are fine.
    expect(await collect([many, '\n'], { maxLineBytes: 100, maxEventBytes: 1000 })).toHaveLength(1);
  });

  it('reads a web ReadableStream as well', async () => {
    const stream = new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(utf8.encode('data: a\n'));
        c.enqueue(utf8.encode('\n'));
        c.close();
      },
    });
    const got: string[] = [];
    for await (const m of readSse(stream)) got.push(m.data);
    expect(got).toEqual(['a']);
  });
});
