import { describe, expect, it } from 'vitest';
import { ExecStream, type ExecControl, type ExecEvent } from './exec-stream.js';

const utf8 = new TextEncoder();
const frame = (event: string, data: unknown) => `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
const RESULT = { exit_code: 3, signal: null, stdout: '', stderr: '', stdout_truncated: false, stderr_truncated: false, timed_out: false, wall_ms: 5, cpu_ms: 1, max_rss_kb: 100 };

/** A response body the test writes frames into; `cancelled` tells whether the client dropped it. */
function body() {
  let ctl!: ReadableStreamDefaultController<Uint8Array>;
  const state = { cancelled: false };
  const stream = new ReadableStream<Uint8Array>({
    start: (c) => void (ctl = c),
    cancel: () => void (state.cancelled = true),
  });
  return { stream, state, send: (t: string) => ctl.enqueue(utf8.encode(t)), close: () => ctl.close() };
}

function recorder() {
  const calls: string[] = [];
  const control: ExecControl = {
    async writeStdin(execId, bytes, eof) {
      calls.push(`stdin ${execId} ${new TextDecoder().decode(bytes)}${eof ? ' EOF' : ''}`);
    },
    async signal(execId, signal) {
      calls.push(`signal ${execId} ${signal}`);
    },
  };
  return { calls, control };
}

describe('ExecStream', () => {
  it('yields started, output in order and exit; skips event types it does not know', async () => {
    const b = body();
    b.send(frame('started', { exec_id: 'ex_1', pid: 9 }) + frame('stdout', { data: 'a' }) + frame('progress', {}));
    b.send(frame('stderr', { data: 'b' }) + frame('stdout', { data: 'c' }) + frame('exit', { ...RESULT, exec_id: 'ex_1' }));
    const events: ExecEvent[] = [];
    for await (const e of new ExecStream(b.stream, recorder().control)) events.push(e);
    expect(events.map((e) => (e.type === 'stdout' || e.type === 'stderr' ? `${e.type}:${e.data}` : e.type))).toEqual([
      'started', 'stdout:a', 'stderr:b', 'stdout:c', 'exit',
    ]);
    expect((events.at(-1) as { result: { exit_code: number } }).result.exit_code).toBe(3);
  });

  it('sends stdin only once started, a chunk at a time, then EOF', async () => {
    const b = body();
    const { calls, control } = recorder();
    async function* input() {
      yield 'one';
      yield new Uint8Array(0); // empty chunks are not sent
      yield utf8.encode('two');
    }
    const stream = new ExecStream(b.stream, control, input());
    const it = stream[Symbol.asyncIterator]();
    b.send(frame('started', { exec_id: 'ex_2', pid: 1 }));
    expect((await it.next()).value).toMatchObject({ type: 'started', exec_id: 'ex_2' });
    await new Promise((r) => setTimeout(r, 10));
    expect(calls).toEqual(['stdin ex_2 one', 'stdin ex_2 two', 'stdin ex_2  EOF']);
    b.send(frame('exit', RESULT));
    expect((await it.next()).value).toMatchObject({ type: 'exit' });
  });

  it('leaving the loop early drops the connection (the runner then kills the command) and ends stdin', async () => {
    const b = body();
    let returned = false;
    const stdin: AsyncIterable<Uint8Array> = {
      [Symbol.asyncIterator]: () => ({
        next: () => new Promise<IteratorResult<Uint8Array>>(() => undefined), // a terminal nobody types into
        return: async () => ((returned = true), { done: true, value: undefined }),
      }),
    };
    const stream = new ExecStream(b.stream, recorder().control, stdin);
    b.send(frame('started', { exec_id: 'ex_3', pid: 1 }) + frame('stdout', { data: 'x' }));
    for await (const e of stream) if (e.type === 'stdout') break;
    expect(b.state.cancelled).toBe(true);
    expect(returned).toBe(true);
  });

  it('a stream that ends before exit is an error; kill() signals by exec id', async () => {
    const b = body();
    const { calls, control } = recorder();
    const stream = new ExecStream(b.stream, control);
    await expect(stream.kill()).rejects.toMatchObject({ code: 'conflict' });
    const it = stream[Symbol.asyncIterator]();
    b.send(frame('started', { exec_id: 'ex_4', pid: 1 }));
    await it.next();
    await stream.kill('KILL');
    expect(calls).toEqual(['signal ex_4 KILL']);
    b.close();
    await expect(it.next()).rejects.toMatchObject({ code: 'unreachable' });
  });

  it('an error event is thrown with its problem code', async () => {
    const b = body();
    b.send(frame('started', { exec_id: 'ex_6', pid: 1 }) + frame('error', { status: 502, code: 'agent_died', detail: 'gone' }));
    await expect(new ExecStream(b.stream, recorder().control).wait()).rejects.toMatchObject({ code: 'agent_died', message: 'gone' });
  });

  it('wait() drains to the result', async () => {
    const b = body();
    b.send(frame('started', { exec_id: 'ex_5', pid: 1 }) + frame('stdout', { data: 'x'.repeat(1000) }) + frame('exit', RESULT));
    expect((await new ExecStream(b.stream, recorder().control).wait()).exit_code).toBe(3);
  });
});
