import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { RESULT_OK, sentData, startFake } from '../../../test/helpers/fake-agent.js';
import { AgentError } from './errors.js';
import { FrameType, INITIAL_WINDOW } from './protocol.js';

describe('exec over a fake agent', () => {
  it('sends the request, delivers stdout and stderr, maps RESULT', async () => {
    const { agent, client } = await startFake();
    const out: string[] = [];
    const err: string[] = [];
    const h = client.exec(
      { argv: ['sh', '-c', 'x'], env: { PATH: '/bin' }, cwd: '/work' },
      { onStdout: (c) => out.push(c.toString()), onStderr: (c) => err.push(c.toString()) },
    );
    expect(h.stdin).toBeNull();
    const { id, body } = await agent.opened('exec');
    expect(id % 2).toBe(1);
    expect(body).toEqual({ op: 'exec', argv: ['sh', '-c', 'x'], env: { PATH: '/bin' }, cwd: '/work', stdin: false });
    agent.json(id, FrameType.STARTED, { pid: 42 });
    agent.data(id, 1, 'hel');
    agent.data(id, 2, 'oops');
    agent.data(id, 1, 'lo');
    agent.eof(id, 1);
    agent.eof(id, 2);
    agent.result(id, { exit_code: null, signal: 'SIGKILL', wall_ms: 10, cpu_ms: 3, max_rss_kb: 1200 });
    expect(await h.started).toEqual({ pid: 42 });
    // A RESULT without `killed` (an older agent) reads as not killed by the agent.
    expect(await h.result).toEqual({ exitCode: null, signal: 'SIGKILL', wallMs: 10, cpuMs: 3, maxRssKb: 1200, killed: null });
    expect(out.join('')).toBe('hello');
    expect(err.join('')).toBe('oops');
    client.close();
  });

  it('feeds stdin after STARTED, within the agent’s window, then EOF', async () => {
    const { agent, client } = await startFake();
    const h = client.exec({ argv: ['cat'], env: {}, cwd: '/', stdin: true });
    const big = Buffer.alloc(INITIAL_WINDOW + 100_000, 'a');
    const wrote = new Promise<void>((r) => h.stdin!.end(big, r));
    const { id, body } = await agent.opened('exec');
    expect(body.stdin).toBe(true);
    await new Promise((r) => setTimeout(r, 30));
    expect(sentData(agent, id)).toHaveLength(0); // nothing before STARTED
    agent.json(id, FrameType.STARTED, { pid: 5 });
    await agent.next((f) => f.type === FrameType.DATA);
    await new Promise((r) => setTimeout(r, 50));
    expect(sentData(agent, id)).toHaveLength(INITIAL_WINDOW); // waits for credit
    expect(agent.all(id, FrameType.EOF)).toHaveLength(0);
    agent.window(id, 0, INITIAL_WINDOW);
    await wrote;
    await agent.next((f) => f.type === FrameType.EOF && f.stream === id);
    expect(sentData(agent, id).equals(big)).toBe(true);
    agent.result(id, RESULT_OK);
    await h.result;
    client.close();
  });

  it('sends CONTROL, resize and CANCEL; an abort signal cancels', async () => {
    const { agent, client } = await startFake();
    const ac = new AbortController();
    const h = client.exec({ argv: ['top'], env: {}, cwd: '/', pty: { rows: 24, cols: 80 } }, {}, ac.signal);
    const { id, body } = await agent.opened('exec');
    expect(body.pty).toEqual({ rows: 24, cols: 80 });
    expect(body).not.toHaveProperty('rlimits');
    h.control('TERM');
    h.resize(50, 132);
    expect(() => h.control('BOGUS' as never)).toThrow(/signal/);
    expect(() => h.resize(0, 1)).toThrow(/rows/);
    ac.abort();
    await agent.next((f) => f.type === FrameType.CANCEL && f.stream === id);
    const controls = agent.all(id, FrameType.CONTROL).map((f) => JSON.parse(f.payload.toString()));
    expect(controls).toEqual([{ signal: 'TERM' }, { resize: { rows: 50, cols: 132 } }]);
    agent.json(id, FrameType.STARTED, { pid: 5 });
    agent.result(id, { ...RESULT_OK, exit_code: null, signal: 'SIGKILL' });
    expect((await h.result).signal).toBe('SIGKILL');
    client.close();
  });

  it('sends rlimits it knows, refuses others before sending', async () => {
    const { agent, client } = await startFake();
    client.exec({ argv: ['x'], env: {}, cwd: '/', rlimits: { cpu: 10, nofile: 64, as: 2 ** 53 } });
    expect((await agent.opened('exec')).body.rlimits).toEqual({ cpu: 10, nofile: 64, as: 2 ** 53 });
    expect(() => client.exec({ argv: ['x'], env: {}, cwd: '/', rlimits: { memlock: 1 } as never })).toThrow(/memlock/);
    expect(() => client.exec({ argv: ['x'], env: {}, cwd: '/', rlimits: { cpu: -1 } })).toThrow(/cpu/);
    expect(() => client.exec({ argv: ['x'], env: {}, cwd: '/', rlimits: { cpu: 1.5 } })).toThrow(/cpu/);
    client.close();
  });

  it('sends wall_ms and kill_on_exit, refuses bad ones before sending; RESULT killed is read', async () => {
    const { agent, client } = await startFake();
    const h = client.exec({ argv: ['x'], env: {}, cwd: '/', wallMs: 250, killOnExit: 'group' });
    const { id, body } = await agent.opened('exec');
    expect(body).toMatchObject({ wall_ms: 250, kill_on_exit: 'group' });
    agent.json(id, FrameType.STARTED, { pid: 3 });
    agent.result(id, { exit_code: null, signal: 'SIGKILL', killed: 'wall', wall_ms: 251, cpu_ms: 0, max_rss_kb: 1 });
    expect(await h.result).toMatchObject({ killed: 'wall', wallMs: 251 });
    for (const bad of [{ wallMs: 0 }, { wallMs: 1.5 }, { wallMs: 2 ** 53 }, { killOnExit: 'all' as never }]) {
      expect(() => client.exec({ argv: ['x'], env: {}, cwd: '/', ...bad })).toThrow(/wallMs|killOnExit/);
    }
    client.close();
  });

  it('rejects with exec_failed when the agent cannot start it', async () => {
    const { agent, client } = await startFake();
    const h = client.exec({ argv: ['/nope'], env: {}, cwd: '/' });
    const { id } = await agent.opened('exec');
    agent.error(id, 'exec_failed', 'fork/exec /nope: no such file');
    const err = await h.result.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AgentError);
    expect((err as AgentError).agentCode).toBe('exec_failed');
    await expect(h.started).rejects.toBe(err);
    client.close();
  });

  it('writes into Writables, and result waits until they took everything', async () => {
    const { agent, client } = await startFake();
    const got: Buffer[] = [];
    const slow = new Writable({
      highWaterMark: 1,
      write(chunk, _e, cb) {
        got.push(chunk);
        setTimeout(cb, 5);
      },
    });
    const h = client.exec({ argv: ['x'], env: {}, cwd: '/' }, { stdout: slow });
    const { id } = await agent.opened('exec');
    agent.json(id, FrameType.STARTED, { pid: 5 });
    for (let i = 0; i < 10; i++) agent.data(id, 1, `line ${i}\n`);
    agent.eof(id, 1);
    agent.eof(id, 2);
    agent.result(id, RESULT_OK);
    await h.result;
    expect(Buffer.concat(got).toString()).toBe(Array.from({ length: 10 }, (_, i) => `line ${i}\n`).join(''));
    expect(slow.writableEnded).toBe(false); // exec never ends the caller's stream
    client.close();
  });

  it('a throwing output callback loses its output, not the connection', async () => {
    const { agent, client } = await startFake();
    const h = client.exec({ argv: ['x'], env: {}, cwd: '/' }, {
      onStdout: () => {
        throw new Error('consumer bug');
      },
    });
    const { id } = await agent.opened('exec');
    agent.json(id, FrameType.STARTED, { pid: 5 });
    agent.data(id, 1, 'a'.repeat(INITIAL_WINDOW));
    // Its output is dropped and still credited: the process is not left blocked.
    await agent.next((f) => f.type === FrameType.WINDOW && f.stream === id);
    expect(agent.granted(id, 1)).toBeGreaterThanOrEqual(INITIAL_WINDOW / 4);
    agent.data(id, 1, 'more');
    agent.eof(id, 1);
    agent.eof(id, 2);
    agent.result(id, RESULT_OK);
    await expect(h.result).resolves.toMatchObject({ exitCode: 0 });
    expect(client.session.error).toBeNull();
    client.close();
  });
});
