import type { Duplex } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { sentData, startFake } from '../../../test/helpers/fake-agent.js';
import { FrameType } from './protocol.js';

const ended = (s: Duplex) => new Promise<void>((r) => s.once('end', r));

describe('TCP forwarding over a fake agent', () => {
  it('connect carries bytes both ways, half-closes with EOF, ends at RESULT', async () => {
    const { agent, client } = await startFake();
    const p = client.connect(8080);
    const { id, body } = await agent.opened('connect');
    expect(body).toEqual({ op: 'connect', port: 8080 });
    agent.json(id, FrameType.STARTED, {});
    const sock = await p;
    const got: Buffer[] = [];
    sock.on('data', (c: Buffer) => got.push(c));
    sock.end('GET / HTTP/1.0\r\n\r\n');
    await agent.next((f) => f.type === FrameType.EOF && f.stream === id);
    expect(sentData(agent, id).toString()).toBe('GET / HTTP/1.0\r\n\r\n');
    agent.data(id, 1, 'HTTP/1.0 200 OK\r\n');
    agent.eof(id, 1);
    await ended(sock);
    agent.result(id, {});
    await new Promise((r) => (sock.closed ? r(null) : sock.once('close', r)));
    expect(Buffer.concat(got).toString()).toBe('HTTP/1.0 200 OK\r\n');
    expect(agent.all(id, FrameType.CANCEL)).toHaveLength(0);
    client.close();
  });

  it('connect rejects with refused; destroying a socket resets it (CANCEL)', async () => {
    const { agent, client } = await startFake();
    const refused = client.connect(1);
    let o = await agent.opened('connect');
    agent.error(o.id, 'refused', 'connection refused');
    await expect(refused).rejects.toMatchObject({ agentCode: 'refused' });

    const p = client.connect(2);
    o = await agent.opened('connect');
    agent.json(o.id, FrameType.STARTED, {});
    (await p).destroy();
    await agent.next((f) => f.type === FrameType.CANCEL && f.stream === o.id);
    client.close();
  });

  it('listen hands accepted connections (even ids) to the callback; close() cancels it', async () => {
    const { agent, client } = await startFake();
    const sockets: Array<{ socket: Duplex; peerPort: number }> = [];
    const p = client.listen(0, (socket, info) => sockets.push({ socket, ...info }));
    const { id, body } = await agent.opened('listen');
    expect(body).toEqual({ op: 'listen', port: 0 });
    agent.json(id, FrameType.STARTED, { port: 40000 });
    const listener = await p;
    expect(listener.port).toBe(40000);

    agent.json(2, FrameType.OPEN, { op: 'accepted', listener: id, peer_port: 51000 });
    agent.data(2, 1, 'ping');
    await new Promise((r) => setTimeout(r, 10));
    expect(sockets).toHaveLength(1);
    expect(sockets[0]!.peerPort).toBe(51000);
    const first = sockets[0]!.socket;
    expect((first.read() as Buffer).toString()).toBe('ping');
    first.write('pong');
    await agent.next((f) => f.type === FrameType.DATA && f.stream === 2);
    expect(sentData(agent, 2).toString()).toBe('pong');

    const closing = listener.close();
    await agent.next((f) => f.type === FrameType.CANCEL && f.stream === id);
    // An accept that crossed the CANCEL is reset, not handed out.
    agent.json(4, FrameType.OPEN, { op: 'accepted', listener: id, peer_port: 51001 });
    agent.data(4, 1, 'sent before the agent saw the CANCEL');
    await agent.next((f) => f.type === FrameType.CANCEL && f.stream === 4);
    agent.eof(4, 1);
    agent.result(4, {});
    agent.result(id, {});
    await closing;
    expect(sockets).toHaveLength(1);
    // The accepted connection outlives its listener.
    agent.data(2, 1, 'still here');
    await new Promise((r) => setTimeout(r, 10));
    expect((first.read() as Buffer).toString()).toBe('still here');
    expect(client.session.error).toBeNull();
    client.close();
  });

  it('an accepted id that does not grow is a protocol error', async () => {
    const { agent, client } = await startFake();
    const p = client.listen(0, () => {});
    const { id } = await agent.opened('listen');
    agent.json(id, FrameType.STARTED, { port: 40000 });
    await p;
    agent.json(4, FrameType.OPEN, { op: 'accepted', listener: id, peer_port: 1 });
    agent.json(2, FrameType.OPEN, { op: 'accepted', listener: id, peer_port: 2 });
    expect((await client.session.closed).code).toBe('agent_protocol_error');
  });

  it('a callback that throws resets that connection only', async () => {
    const { agent, client } = await startFake();
    const p = client.listen(0, () => {
      throw new Error('handler bug');
    });
    const { id } = await agent.opened('listen');
    agent.json(id, FrameType.STARTED, { port: 40000 });
    await p;
    agent.json(2, FrameType.OPEN, { op: 'accepted', listener: id, peer_port: 1 });
    await agent.next((f) => f.type === FrameType.CANCEL && f.stream === 2);
    expect(client.session.error).toBeNull();
    client.close();
  });
});
