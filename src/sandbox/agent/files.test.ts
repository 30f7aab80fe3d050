import { Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import { describe, expect, it } from 'vitest';
import { sentData, startFake } from '../../../test/helpers/fake-agent.js';
import { AgentError } from './errors.js';
import { FrameType, INITIAL_WINDOW } from './protocol.js';

const entry = (name: string, extra: Record<string, unknown> = {}) => ({
  name,
  path: `/d/${name}`,
  type: 'file',
  size: 3,
  mode: 0o644,
  mtime_ms: 1_700_000_000_000,
  ...extra,
});

describe('files over a fake agent', () => {
  it('writeFile sends the options, the bytes within the window, EOF; resolves with the size', async () => {
    const { agent, client } = await startFake();
    const content = Buffer.alloc(INITIAL_WINDOW + 1000, 'z');
    const done = client.writeFile('/w/f', Readable.from([content.subarray(0, 5000), content.subarray(5000)]), {
      mode: 0o600,
      mkdirs: true,
    });
    const { id, body } = await agent.opened('write');
    expect(body).toEqual({ op: 'write', path: '/w/f', mode: 0o600, mkdirs: true });
    await agent.next((f) => f.type === FrameType.DATA);
    await new Promise((r) => setTimeout(r, 30));
    expect(sentData(agent, id)).toHaveLength(INITIAL_WINDOW);
    agent.window(id, 0, INITIAL_WINDOW / 2);
    await agent.next((f) => f.type === FrameType.EOF && f.stream === id);
    expect(sentData(agent, id).equals(content)).toBe(true);
    agent.result(id, { size: content.length });
    expect(await done).toEqual({ size: content.length });
    client.close();
  });

  it('writeFile stops reading the source when the agent refuses, and rejects with its error', async () => {
    const { agent, client } = await startFake();
    let pulled = 0;
    const source = new Readable({
      read() {
        pulled++;
        this.push(Buffer.alloc(65536));
      },
    });
    const done = client.writeFile('/ro/f', source);
    const { id } = await agent.opened('write');
    await agent.next((f) => f.type === FrameType.DATA);
    agent.error(id, 'permission', 'read-only file system');
    await expect(done).rejects.toMatchObject({ agentCode: 'permission' });
    const before = pulled;
    await new Promise((r) => setTimeout(r, 30));
    expect(pulled).toBe(before);
    expect(source.destroyed).toBe(true);
    client.close();
  });

  it('writeFile destroys an idle source when the agent refuses', async () => {
    const { agent, client } = await startFake();
    const source = new Readable({ read() {} });
    const done = client.writeFile('/f', source);
    const { id } = await agent.opened('write');
    agent.error(id, 'not_dir', 'parent is a file');
    await expect(done).rejects.toMatchObject({ agentCode: 'not_dir' });
    expect(source.destroyed).toBe(true);
    client.close();
  });

  it('writeFile cancels when its source fails', async () => {
    const { agent, client } = await startFake();
    const source = new Readable({ read() {} });
    const done = client.writeFile('/f', source);
    const { id } = await agent.opened('write');
    source.destroy(new Error('disk gone'));
    await agent.next((f) => f.type === FrameType.CANCEL && f.stream === id);
    agent.error(id, 'cancelled');
    await expect(done).rejects.toThrow(/disk gone/);
    client.close();
  });

  it('readFile gives size, mode and the bytes; checks RESULT against them', async () => {
    const { agent, client } = await startFake();
    const p = client.readFile('/r', { offset: 2 });
    const { id, body } = await agent.opened('read');
    expect(body).toEqual({ op: 'read', path: '/r', offset: 2 });
    agent.json(id, FrameType.STARTED, { size: 11, mode: 0o640 });
    const r = await p;
    expect([r.size, r.mode]).toEqual([11, 0o640]);
    agent.data(id, 1, 'llo ');
    agent.data(id, 1, 'world');
    agent.eof(id, 1);
    agent.result(id, { size: 9 });
    expect(await text(r.stream)).toBe('llo world');
    client.close();
  });

  it('readFile: a RESULT size that disagrees with the bytes is a protocol error', async () => {
    const { agent, client } = await startFake();
    const p = client.readFile('/r');
    const { id } = await agent.opened('read');
    agent.json(id, FrameType.STARTED, { size: 3, mode: 0o644 });
    agent.data(id, 1, 'abc');
    agent.eof(id, 1);
    agent.result(id, { size: 4 });
    const r = await p;
    await expect(text(r.stream)).rejects.toMatchObject({ code: 'agent_protocol_error' });
    expect((await client.session.closed).code).toBe('agent_protocol_error');
  });

  it('readFile rejects with is_dir / not_found; destroying the stream early cancels', async () => {
    const { agent, client } = await startFake();
    const dir = client.readFile('/d');
    const { id } = await agent.opened('read');
    agent.error(id, 'is_dir', '/d is a directory');
    await expect(dir).rejects.toBeInstanceOf(AgentError);

    const p = client.readFile('/big');
    const second = await agent.opened('read');
    agent.json(second.id, FrameType.STARTED, { size: 1 << 30, mode: 0o644 });
    const r = await p;
    agent.data(second.id, 1, 'x'.repeat(1000));
    r.stream.destroy();
    await agent.next((f) => f.type === FrameType.CANCEL && f.stream === second.id);
    agent.error(second.id, 'cancelled');
    expect(client.session.error).toBeNull();
    client.close();
  });

  it('stat returns the entry without unknown fields; mkdir, remove, rename send their options', async () => {
    const { agent, client } = await startFake();
    const st = client.stat('/d/a');
    let o = await agent.opened('stat');
    agent.result(o.id, entry('a', { inode: 5, target: null }));
    expect(await st).toEqual(entry('a'));

    const ops = [
      [client.mkdir('/m', { parents: true, mode: 0o700 }), { op: 'mkdir', path: '/m', parents: true, mode: 0o700 }],
      [client.remove('/m', { recursive: true }), { op: 'remove', path: '/m', recursive: true }],
      [client.rename('/a', '/b'), { op: 'rename', from: '/a', to: '/b', overwrite: false }],
    ] as const;
    for (const [promise, body] of ops) {
      o = await agent.opened(body.op);
      expect(o.body).toEqual(body);
      agent.result(o.id, {});
      await expect(promise).resolves.toBeUndefined();
    }
    const rm = client.remove('/full');
    o = await agent.opened('remove');
    agent.error(o.id, 'not_empty', 'directory not empty');
    await expect(rm).rejects.toMatchObject({ agentCode: 'not_empty', code: 'conflict' });
    client.close();
  });

  it('list reads JSON lines however the frames cut them', async () => {
    const { agent, client } = await startFake();
    const p = client.list('/d', { depth: 2, maxEntries: 5 });
    const { id, body } = await agent.opened('list');
    expect(body).toEqual({ op: 'list', path: '/d', depth: 2, max_entries: 5 });
    const lines = ['a', 'b', 'c'].map((n) => JSON.stringify(entry(n))).join('\n') + '\n';
    for (let i = 0; i < lines.length; i += 7) agent.data(id, 1, lines.slice(i, i + 7));
    agent.eof(id, 1);
    agent.result(id, { count: 3, truncated: true });
    const r = await p;
    expect(r.truncated).toBe(true);
    expect(r.entries.map((e) => e.name)).toEqual(['a', 'b', 'c']);
    client.close();
  });

  it.each([
    ['a count that disagrees', (l: string) => [l, { count: 2, truncated: false }]],
    ['more entries than asked for', (l: string) => [l.repeat(3), { count: 3, truncated: false }]],
    ['a line that is no entry', () => ['{"name":"x"}\n', { count: 1, truncated: false }]],
    ['a line that is not JSON', () => ['nope\n', { count: 1, truncated: false }]],
  ] as const)('list: %s is a protocol error', async (_, make) => {
    const { agent, client } = await startFake();
    const p = client.list('/d', { maxEntries: 2 });
    const { id } = await agent.opened('list');
    const [data, result] = make(JSON.stringify(entry('a')) + '\n');
    agent.data(id, 1, data as string);
    agent.eof(id, 1);
    agent.result(id, result);
    await expect(p).rejects.toMatchObject({ code: 'agent_protocol_error' });
    expect((await client.session.closed).code).toBe('agent_protocol_error');
  });

  it('listEntries: leaving the loop early cancels the listing', async () => {
    const { agent, client } = await startFake();
    const it = client.listEntries('/d');
    const first = it.next();
    const { id } = await agent.opened('list');
    agent.data(id, 1, JSON.stringify(entry('a')) + '\n' + JSON.stringify(entry('b')) + '\n');
    expect((await first).value).toMatchObject({ name: 'a' });
    await it.return({ count: 0, truncated: false });
    await agent.next((f) => f.type === FrameType.CANCEL && f.stream === id);
    client.close();
  });
});
