import { describe, expect, it } from 'vitest';
import { FakeAgent } from '../../../test/helpers/fake-agent.js';
import { AgentClient } from './agent-client.js';
import { AgentError } from './errors.js';
import { encodeFrame } from './frame.js';
import { FrameType } from './protocol.js';

async function start(): Promise<{ agent: FakeAgent; client: AgentClient }> {
  const agent = new FakeAgent();
  agent.hello();
  return { agent, client: await AgentClient.connect(agent.transport) };
}

/** An exec the fake agent has seen open and started. */
async function runningExec(agent: FakeAgent, client: AgentClient) {
  const handle = client.exec({ argv: ['/bin/true'], env: {}, cwd: '/' });
  const { id } = await agent.opened('exec');
  agent.json(id, FrameType.STARTED, { pid: 7 });
  await handle.started;
  return { handle, id };
}

describe('AgentSession handshake', () => {
  it('takes a valid HELLO, ignoring fields it does not know', async () => {
    const agent = new FakeAgent();
    agent.hello({ protocol: 1, version: '0.1.0', pid: 1, extra: { nested: true } });
    const client = await AgentClient.connect(agent.transport);
    expect(client.session.agent).toEqual({ version: '0.1.0', pid: 1 });
    client.close();
    expect((await client.session.closed).code).toBe('agent_died');
  });

  it('gives up without a HELLO in time, and closes the transport', async () => {
    const agent = new FakeAgent();
    const t0 = Date.now();
    await expect(AgentClient.connect(agent.transport, { helloTimeoutMs: 100 })).rejects.toMatchObject({ code: 'agent_died' });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(95);
    expect(agent.fromRunner.destroyed).toBe(true);
  });

  it.each([
    ['a protocol it does not speak', (a: FakeAgent) => a.hello({ protocol: 2, version: 'x', pid: 1 })],
    ['a first frame that is not HELLO', (a: FakeAgent) => a.json(0, FrameType.PONG, {})],
    ['HELLO off stream 0', (a: FakeAgent) => a.json(1, FrameType.HELLO, { protocol: 1, version: 'x', pid: 1 })],
    ['HELLO missing pid', (a: FakeAgent) => a.hello({ protocol: 1, version: 'x' })],
    ['HELLO as an array', (a: FakeAgent) => a.send(0, FrameType.HELLO, Buffer.from('[1]'))],
    ['HELLO not UTF-8', (a: FakeAgent) => a.send(0, FrameType.HELLO, Buffer.of(0x7b, 0xff, 0x7d))],
  ])('refuses %s', async (_, act) => {
    const agent = new FakeAgent();
    act(agent);
    await expect(AgentClient.connect(agent.transport)).rejects.toMatchObject({ code: 'agent_protocol_error' });
  });

  it('fails to start when the agent exits before HELLO', async () => {
    const agent = new FakeAgent();
    agent.die();
    await expect(AgentClient.connect(agent.transport)).rejects.toMatchObject({ code: 'agent_died' });
  });
});

describe('AgentSession rules', () => {
  it('answers ping with the PONG of the same bytes', async () => {
    const { agent, client } = await start();
    const rtt = client.ping();
    const ping = await agent.next((f) => f.type === FrameType.PING);
    expect(ping.stream).toBe(0);
    agent.send(0, FrameType.PONG, ping.payload);
    expect(await rtt).toBeGreaterThanOrEqual(0);
    client.close();
  });

  const violations: Array<[string, (a: FakeAgent, id: number) => void]> = [
    ['a PONG for no PING', (a) => a.send(0, FrameType.PONG, Buffer.from('nope'))],
    ['a second HELLO', (a) => a.hello()],
    ['CONTROL (runner → agent only)', (a, id) => a.json(id, FrameType.CONTROL, { signal: 'TERM' })],
    ['CANCEL (runner → agent only)', (a, id) => a.send(id, FrameType.CANCEL)],
    ['PING (runner → agent only)', (a) => a.send(0, FrameType.PING, Buffer.of(1))],
    ['a frame for a stream never opened', (a) => a.data(9, 1, 'x')],
    ['DATA on stream 0', (a) => a.data(0, 1, 'x')],
    ['an agent OPEN on an odd id', (a) => a.json(11, FrameType.OPEN, { op: 'accepted', listener: 1, peer_port: 1 })],
    ['an accepted connection for no listen', (a, id) => a.json(2, FrameType.OPEN, { op: 'accepted', listener: id, peer_port: 1 })],
    ['a second STARTED', (a, id) => a.json(id, FrameType.STARTED, { pid: 8 })],
    ['DATA on channel 0 (the runner’s)', (a, id) => a.data(id, 0, 'x')],
    ['DATA on channel 3', (a, id) => a.data(id, 3, 'x')],
    ['DATA without a channel byte', (a, id) => a.send(id, FrameType.DATA)],
    ['EOF with two bytes', (a, id) => a.send(id, FrameType.EOF, Buffer.of(1, 2))],
    ['a second EOF', (a, id) => (a.eof(id, 1), a.eof(id, 1))],
    ['DATA after EOF', (a, id) => (a.eof(id, 2), a.data(id, 2, 'x'))],
    ['WINDOW on channel 1 (the agent’s)', (a, id) => a.window(id, 1, 10)],
    ['WINDOW of 0', (a, id) => a.window(id, 0, 0)],
    ['WINDOW past the initial window', (a, id) => a.window(id, 0, 1)],
    ['WINDOW of four bytes', (a, id) => a.send(id, FrameType.WINDOW, Buffer.of(0, 0, 0, 1))],
    ['an ERROR with an unknown code', (a, id) => a.error(id, 'oops')],
    ['an ERROR without message', (a, id) => a.json(id, FrameType.ERROR, { code: 'io' })],
    ['exit_code 256', (a, id) => a.result(id, { exit_code: 256, signal: null, wall_ms: 1, cpu_ms: 1, max_rss_kb: 1 })],
    ['exit_code -1', (a, id) => a.result(id, { exit_code: -1, signal: null, wall_ms: 1, cpu_ms: 1, max_rss_kb: 1 })],
    ['a signal not named SIG…', (a, id) => a.result(id, { exit_code: null, signal: 'KILL', wall_ms: 1, cpu_ms: 1, max_rss_kb: 1 })],
    ['a fractional cpu_ms', (a, id) => a.result(id, { exit_code: 0, signal: null, wall_ms: 1, cpu_ms: 1.5, max_rss_kb: 1 })],
    ['an unsafe wall_ms', (a, id) => a.result(id, { exit_code: 0, signal: null, wall_ms: 2 ** 60, cpu_ms: 1, max_rss_kb: 1 })],
    ['a RESULT missing signal', (a, id) => a.result(id, { exit_code: 0, wall_ms: 1, cpu_ms: 1, max_rss_kb: 1 })],
    ['a RESULT that is not JSON', (a, id) => a.send(id, FrameType.RESULT, Buffer.from('{'))],
    ['an over-long frame', (a) => a.raw(Buffer.of(0, 1, 0, 1, 0, 0, 0, 1, 3))],
    ['an unknown frame type', (a, id) => a.raw(encodeFrame(id, 12).fill(99, 8, 9))],
  ];

  it.each(violations)('ends the connection on %s: open operations fail with agent_protocol_error', async (_, act) => {
    const { agent, client } = await start();
    const { handle, id } = await runningExec(agent, client);
    const other = client.stat('/x');
    await agent.opened('stat');
    act(agent, id);
    await expect(handle.result).rejects.toMatchObject({ code: 'agent_protocol_error' });
    await expect(other).rejects.toMatchObject({ code: 'agent_protocol_error' });
    expect((await client.session.closed).code).toBe('agent_protocol_error');
    expect(agent.fromRunner.destroyed).toBe(true);
    // Later operations fail the same way, at once.
    await expect(client.stat('/y')).rejects.toMatchObject({ code: 'agent_protocol_error' });
    await expect(client.ping()).rejects.toMatchObject({ code: 'agent_protocol_error' });
  });

  it('ignores frames for a stream that already ended', async () => {
    const { agent, client } = await start();
    const { handle, id } = await runningExec(agent, client);
    agent.result(id, { exit_code: 3, signal: null, wall_ms: 5, cpu_ms: 2, max_rss_kb: 900, later: 'field' });
    expect(await handle.result).toEqual({ exitCode: 3, signal: null, wallMs: 5, cpuMs: 2, maxRssKb: 900, killed: null });
    agent.window(id, 0, 5);
    agent.data(id, 1, 'late');
    agent.result(id, {});
    const rtt = client.ping();
    agent.send(0, FrameType.PONG, (await agent.next((f) => f.type === FrameType.PING)).payload);
    await rtt;
    expect(client.session.error).toBeNull();
    client.close();
  });

  it('fails every open operation with agent_died when the agent goes away', async () => {
    const { agent, client } = await start();
    const { handle } = await runningExec(agent, client);
    const read = client.readFile('/f');
    await agent.opened('read');
    agent.die();
    await expect(handle.result).rejects.toMatchObject({ code: 'agent_died' });
    await expect(read).rejects.toMatchObject({ code: 'agent_died' });
    await expect(handle.started).resolves.toEqual({ pid: 7 });
    await expect(client.mkdir('/d')).rejects.toMatchObject({ code: 'agent_died' });
  });

  it('maps an agent ERROR to AgentError with the agent’s code, and the connection stays', async () => {
    const { agent, client } = await start();
    const st = client.stat('/missing');
    const { id, body } = await agent.opened('stat');
    expect(body).toEqual({ op: 'stat', path: '/missing' });
    agent.error(id, 'not_found', 'no such file');
    const err = await st.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AgentError);
    expect(err).toMatchObject({ agentCode: 'not_found', code: 'not_found', details: { agent_code: 'not_found' } });
    expect(client.session.error).toBeNull();
    client.close();
  });

  it('refuses a request above one frame before sending it', async () => {
    const { agent, client } = await start();
    const handle = client.exec({ argv: ['x'.repeat(70000)], env: {}, cwd: '/' });
    await expect(handle.result).rejects.toMatchObject({ code: 'validation_failed' });
    expect(agent.received.filter((f) => f.type === FrameType.OPEN)).toHaveLength(0);
    expect(() => client.exec({ argv: [], env: {}, cwd: '/' })).toThrow(/argv/);
    await expect(client.stat('relative')).rejects.toMatchObject({ code: 'validation_failed' });
    client.close();
  });
});
