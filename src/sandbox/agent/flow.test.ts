import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { type FakeAgent, RESULT_OK, startFake } from '../../../test/helpers/fake-agent.js';
import { FrameType, INITIAL_WINDOW } from './protocol.js';

const tick = (ms = 20) => new Promise((r) => setTimeout(r, ms));

/** Sends `total` bytes on (stream, channel) as a well-behaved agent would: within its window. */
async function pump(agent: FakeAgent, id: number, channel: number, total: number, stop = { stalled: false }) {
  let sent = 0;
  while (sent < total) {
    const window = INITIAL_WINDOW + agent.granted(id, channel) - sent;
    if (window === 0) {
      stop.stalled = true;
      await agent.next((f) => f.type === FrameType.WINDOW && f.stream === id, 10_000);
      stop.stalled = false;
      continue;
    }
    const n = Math.min(window, 65535, total - sent);
    agent.data(id, channel, Buffer.alloc(n, sent & 0xff));
    sent += n;
    await new Promise((r) => setImmediate(r));
  }
}

async function openRead(agent: FakeAgent, client: Awaited<ReturnType<typeof startFake>>['client']) {
  const p = client.readFile('/big');
  const { id } = await agent.opened('read');
  agent.json(id, FrameType.STARTED, { size: 1 << 30, mode: 0o644 });
  return { id, stream: (await p).stream };
}

describe('flow control', () => {
  it('an agent sending past the window it was given is a protocol error', async () => {
    const { agent, client } = await startFake();
    const { id, stream } = await openRead(agent, client);
    agent.data(id, 1, Buffer.alloc(INITIAL_WINDOW));
    await tick();
    expect(client.session.error).toBeNull();
    agent.data(id, 1, 'x');
    expect((await client.session.closed).code).toBe('agent_protocol_error');
    expect(stream.destroyed).toBe(true);
  });

  it('a consumer that does not read gets no grants; reading brings them back', async () => {
    const { agent, client } = await startFake();
    const { id, stream } = await openRead(agent, client);
    agent.data(id, 1, Buffer.alloc(INITIAL_WINDOW, 1));
    await tick(50);
    expect(agent.granted(id, 1)).toBe(0);
    let read = 0;
    for (let c = stream.read() as Buffer | null; c; c = stream.read() as Buffer | null) read += c.length;
    await tick();
    for (let c = stream.read() as Buffer | null; c; c = stream.read() as Buffer | null) read += c.length;
    expect(read).toBe(INITIAL_WINDOW);
    // Credit for what was consumed, never for more.
    expect(agent.granted(id, 1)).toBeGreaterThanOrEqual(INITIAL_WINDOW / 2);
    expect(agent.granted(id, 1)).toBeLessThanOrEqual(INITIAL_WINDOW);
    client.close();
  });

  it('a slow Writable stops the grants: the runner holds at most one window, then all arrives', async () => {
    const { agent, client } = await startFake();
    let release: () => void = () => {};
    let received = 0;
    const gate = new Promise<void>((r) => (release = r));
    const slow = new Writable({
      highWaterMark: 1024,
      write(chunk: Buffer, _e, cb) {
        received += chunk.length;
        gate.then(() => cb());
      },
    });
    const h = client.exec({ argv: ['yes'], env: {}, cwd: '/' }, { stdout: slow });
    const { id } = await agent.opened('exec');
    agent.json(id, FrameType.STARTED, { pid: 9 });
    const total = 4 * 1024 * 1024;
    const state = { stalled: false };
    const pumping = pump(agent, id, 1, total, state);
    await tick(200);
    expect(state.stalled).toBe(true);
    // Credit only for what the consumer took, so the runner holds at most one window of it.
    const sent = INITIAL_WINDOW + agent.granted(id, 1);
    expect(sent - received).toBeLessThanOrEqual(INITIAL_WINDOW);
    expect(sent).toBeLessThan(total / 4);
    release();
    await pumping;
    agent.eof(id, 1);
    agent.eof(id, 2);
    agent.result(id, RESULT_OK);
    await h.result;
    expect(received).toBe(total);
    client.close();
  });

  it('a fast consumer keeps the agent going over many windows', async () => {
    const { agent, client } = await startFake();
    const { id, stream } = await openRead(agent, client);
    let got = 0;
    stream.on('data', (c: Buffer) => (got += c.length));
    await pump(agent, id, 1, 8 * INITIAL_WINDOW);
    await tick();
    expect(got).toBe(8 * INITIAL_WINDOW);
    client.close();
  });

  it('a flood of 1-byte frames is coalesced, not buffered as 256 Ki objects', async () => {
    const { agent, client } = await startFake();
    const { id, stream } = await openRead(agent, client);
    const frames: Buffer[] = [];
    for (let i = 0; i < INITIAL_WINDOW; i++) frames.push(Buffer.of(0, 0, 0, 2, 0, 0, 0, id, FrameType.DATA, 1, i & 0xff));
    agent.raw(Buffer.concat(frames));
    await tick(100);
    const chunks: Buffer[] = [];
    for (let c = stream.read() as Buffer | null; c; c = stream.read() as Buffer | null) chunks.push(c);
    await tick();
    for (let c = stream.read() as Buffer | null; c; c = stream.read() as Buffer | null) chunks.push(c);
    const all = Buffer.concat(chunks);
    expect(all).toHaveLength(INITIAL_WINDOW);
    expect(all.every((b, i) => b === (i & 0xff))).toBe(true);
    expect(chunks.length).toBeLessThanOrEqual(8);
    client.close();
  });
});
