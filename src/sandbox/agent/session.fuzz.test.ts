import { describe, expect, it } from 'vitest';
import { FakeAgent } from '../../../test/helpers/fake-agent.js';
import { PaddockError } from '../../errors.js';
import { AgentClient } from './agent-client.js';
import { encodeFrame } from './frame.js';
import { AGENT_ERROR_CODES, FrameType, HEADER_SIZE, MAX_PAYLOAD } from './protocol.js';

// Random bytes and mutated valid frames from a hostile agent: the session ends with a protocol
// error (or keeps working), every operation settles with a typed error or a value, nothing is
// thrown outside them, nothing hangs, and the decoder never holds more than one frame.
const SEED = Number(process.env.FUZZ_SEED ?? Date.now() % 1_000_000);
const ROUNDS = Number(process.env.FUZZ_ROUNDS ?? 300);

/** mulberry32, as in test/input-grammar.int.test.ts: replay a failure with FUZZ_SEED. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Rand = () => number;
const int = (r: Rand, n: number) => Math.floor(r() * n);
const pick = <T>(r: Rand, xs: readonly T[]): T => xs[int(r, xs.length)]!;
const entry = { name: 'a', path: '/a', type: 'file', size: 1, mode: 420, mtime_ms: 0 };
const bodies: Record<string, { started?: unknown; result: unknown }> = {
  exec: { started: { pid: 3 }, result: { exit_code: 0, signal: null, wall_ms: 1, cpu_ms: 1, max_rss_kb: 1 } },
  read: { started: { size: 3, mode: 420 }, result: { size: 3 } },
  list: { result: { count: 1, truncated: false } },
  stat: { result: entry },
  write: { result: { size: 3 } },
  connect: { started: {}, result: {} },
  listen: { started: { port: 4000 }, result: {} },
};

/** A frame the agent might plausibly send on one of the runner's streams (often valid in context). */
function plausible(r: Rand, id: number, op: string): Buffer {
  const b = bodies[op] ?? { result: {} };
  const json = (t: FrameType, v: unknown) => encodeFrame(id, t, Buffer.from(JSON.stringify(v)));
  const channel = op === 'exec' ? 1 + int(r, 2) : 1;
  switch (int(r, 9)) {
    case 0:
    case 1:
      return b.started ? json(FrameType.STARTED, b.started) : encodeFrame(0, FrameType.PONG, Buffer.alloc(8));
    case 2:
    case 3:
      return encodeFrame(id, FrameType.DATA, Buffer.concat([Buffer.of(channel), Buffer.from(JSON.stringify(entry) + '\n')]));
    case 4:
      return encodeFrame(id, FrameType.EOF, Buffer.of(channel));
    case 5: {
      const p = Buffer.alloc(5);
      p.writeUInt32BE(1 + int(r, 1000), 1);
      return encodeFrame(id, FrameType.WINDOW, p);
    }
    case 6:
      return json(FrameType.ERROR, { code: pick(r, AGENT_ERROR_CODES), message: 'm' });
    case 7:
      return json(FrameType.OPEN, { op: 'accepted', listener: id, peer_port: 5 });
    default:
      return json(FrameType.RESULT, b.result);
  }
}

function mutate(r: Rand, frame: Buffer): Buffer {
  const f = Buffer.from(frame);
  switch (int(r, 4)) {
    case 0: // flip a few bytes anywhere, header included
      for (let i = 0, n = 1 + int(r, 3); i < n; i++) f[int(r, f.length)] = int(r, 256);
      return f;
    case 1: // a length that lies
      f.writeUInt32BE(int(r, 2) ? int(r, f.length + 20) : MAX_PAYLOAD + 1 + int(r, 1e6), 0);
      return f;
    case 2: // another type
      f[8] = int(r, 16);
      return f;
    default: // truncated
      return f.subarray(0, int(r, f.length));
  }
}

function randomBytes(r: Rand): Buffer {
  const b = Buffer.alloc(int(r, 200));
  for (let i = 0; i < b.length; i++) b[i] = int(r, 256);
  return b;
}

const settle = (p: Promise<unknown>) => p.then(() => 'ok' as const, (e: unknown) => e);

async function round(r: Rand): Promise<void> {
  const agent = new FakeAgent();
  if (r() < 0.9) agent.hello();
  else agent.raw(r() < 0.5 ? randomBytes(r) : mutate(r, encodeFrame(0, FrameType.HELLO, Buffer.from('{"protocol":1,"version":"x","pid":1}'))));
  const connected = await AgentClient.connect(agent.transport, { helloTimeoutMs: 50 }).catch((e: unknown) => e);
  if (!(connected instanceof AgentClient)) {
    expect(connected).toBeInstanceOf(PaddockError);
    expect(['agent_protocol_error', 'agent_died']).toContain((connected as PaddockError).code);
    return;
  }
  const client = connected;
  const session = client.session as unknown as { decoder: { buffered: number } };
  const exec = client.exec({ argv: ['x'], env: {}, cwd: '/', stdin: true }, { onStdout: () => {} });
  exec.stdin!.write('input');
  // Handlers attached at once, as a caller must (a rejection may come before the feed loop ends).
  const ops: Array<Promise<unknown>> = [
    exec.result,
    exec.started,
    client.readFile('/r').then((f) => new Promise((res, rej) => f.stream.on('error', rej).resume().on('end', res))),
    client.list('/d'),
    client.stat('/s'),
    client.writeFile('/w', Buffer.from('abc')),
    client.connect(80).then((s) => s.end('x')),
    client.listen(0, (s) => s.resume()),
    client.ping(),
  ].map(settle);
  const kinds = ['exec', 'read', 'list', 'stat', 'write', 'connect', 'listen'];
  // Some rounds are short and mild, so sessions that stay up get exercised too.
  const hostility = r();
  for (let i = 0, n = 1 + int(r, r() < 0.5 ? 4 : 30); i < n; i++) {
    const k = int(r, kinds.length);
    const valid = plausible(r, 1 + 2 * k, kinds[k]!);
    const bytes = r() >= hostility / 2 ? valid : r() < 0.7 ? mutate(r, valid) : randomBytes(r);
    // Cut into random chunks, as a pipe would deliver them.
    for (let off = 0; off < bytes.length; ) {
      const n = 1 + int(r, bytes.length);
      agent.raw(bytes.subarray(off, off + n));
      off += n;
    }
    await new Promise((res) => setImmediate(res));
    expect(session.decoder.buffered).toBeLessThanOrEqual(HEADER_SIZE + MAX_PAYLOAD);
  }
  if (client.session.error === null && session.decoder.buffered === 0) {
    // Still up between frames: it must still work.
    const rtt = client.ping();
    const ping = await agent.next((f) => f.type === FrameType.PING && f.payload.readBigUInt64BE() > 1n);
    agent.send(0, FrameType.PONG, ping.payload);
    expect(typeof (await rtt)).toBe('number');
  }
  if (r() < 0.5) agent.die();
  else client.close();
  const outcomes = await Promise.race([
    Promise.all(ops),
    new Promise((_, rej) => setTimeout(() => rej(new Error(`an operation hung (seed ${SEED})`)), 2000)),
  ]);
  for (const o of outcomes as unknown[]) if (o !== 'ok') expect(o).toBeInstanceOf(PaddockError);
  expect(['agent_protocol_error', 'agent_died']).toContain((await client.session.closed).code);
}

describe(`agent session fuzz (FUZZ_SEED=${SEED})`, () => {
  it(`survives ${ROUNDS} rounds of hostile bytes`, async () => {
    const escaped: unknown[] = [];
    const onEscape = (e: unknown) => escaped.push(e instanceof Error ? e.stack : e);
    const onRejection = (e: unknown) => escaped.push(['unhandled rejection', e instanceof Error ? e.stack : e]);
    process.on('unhandledRejection', onRejection);
    process.on('uncaughtException', onEscape);
    try {
      const r = prng(SEED);
      for (let i = 0; i < ROUNDS; i++) await round(r);
      await new Promise((res) => setTimeout(res, 50));
    } finally {
      process.off('unhandledRejection', onRejection);
      process.off('uncaughtException', onEscape);
    }
    expect(escaped).toEqual([]);
  }, 120_000);
});
