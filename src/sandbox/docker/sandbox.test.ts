import type Dockerode from 'dockerode';
import { describe, expect, it } from 'vitest';
import { RESULT_OK, startFake } from '../../../test/helpers/fake-agent.js';
import { FrameType } from '../agent/protocol.js';
import type { Box } from './containers.js';
import { inputPaths } from '../inputs.js';
import { DockerSandbox } from './sandbox.js';

const limits = { timeout_ms: 60_000, memory_mb: 512, cpu_ms: 60_000, pids: 128, output_bytes: 1 << 20, disk_mb: 64, open_files: 256, cpus: 1 };
const req = { argv: ['true'], cwd: '/work', env: {} };

/** A DockerSandbox over a fake agent and a container that records what is asked of it. */
async function fakeSandbox(state: { Running: boolean; ExitCode: number; OOMKilled: boolean } = { Running: false, ExitCode: 2, OOMKilled: false }) {
  const { agent, client } = await startFake();
  const calls: string[] = [];
  const container = {
    id: 'c0ffee',
    wait: async () => (calls.push('wait'), { StatusCode: state.ExitCode }),
    inspect: async () => (calls.push('inspect'), { State: state }),
    kill: async () => void calls.push('kill'),
    pause: async () => void calls.push('pause'),
    unpause: async () => void calls.push('unpause'),
  } as unknown as Dockerode.Container;
  let released = 0;
  const box: Box = { container, uid: 200_001, agent: client, ctx: { containerId: 'c0ffee' } };
  const files = [{ path: 'a/in.txt', content: Buffer.from('x') }];
  const sandbox = new DockerSandbox('sbx_1', box, { id: 'sbx_1', network: 'none', limits, files }, () => {
    released++;
    client.close();
  });
  return { agent, sandbox, calls, released: () => released };
}

describe('inputPaths', () => {
  it('puts the job\'s files under /work and Paddock\'s under /tmp/.paddock, nothing else', () => {
    const f = (path: string) => ({ path, content: Buffer.alloc(0) });
    expect(inputPaths([f('a/b'), f('/work/c'), f('/tmp/.paddock/script')]).map((x) => x.path)).toEqual(['/work/a/b', '/work/c', '/tmp/.paddock/script']);
    for (const bad of ['../etc/passwd', '/etc/x', '/tmp/x', '/work', '/tmp/.paddock']) {
      expect(() => inputPaths([f(bad)]), bad).toThrow(/outside/);
    }
  });
});

describe('DockerSandbox over a fake agent', () => {
  it('writes the spec\'s files once, before the first command, then runs each command', async () => {
    const { agent, sandbox } = await fakeSandbox();
    const first = sandbox.exec(req, () => undefined, new AbortController().signal);
    const write = await agent.opened('write');
    expect(write.body).toMatchObject({ path: '/work/a/in.txt', mode: 0o644, mkdirs: true });
    await agent.next((f) => f.type === FrameType.EOF && f.stream === write.id);
    agent.result(write.id, { size: 1 });
    const exec = await agent.opened('exec');
    agent.json(exec.id, FrameType.STARTED, { pid: 9 });
    agent.result(exec.id, { ...RESULT_OK, exit_code: 4 });
    expect((await first).exitCode).toBe(4);
    const second = sandbox.exec(req, () => undefined, new AbortController().signal);
    const next = await agent.opened();
    expect(next.body.op).toBe('exec'); // no second write
    agent.json(next.id, FrameType.STARTED, { pid: 10 });
    agent.result(next.id, RESULT_OK);
    expect((await second).exitCode).toBe(0);
  });

  it('a protocol error from the agent: died settles with it, the command fails as the driver\'s, later ones are refused', async () => {
    const { agent, sandbox, calls } = await fakeSandbox({ Running: true, ExitCode: 0, OOMKilled: false });
    const running = sandbox.exec({ ...req }, () => undefined, new AbortController().signal);
    agent.raw(Buffer.from([0, 0, 0, 0, 0, 0, 0, 0, 99])); // an unknown frame type
    await expect(running).rejects.toMatchObject({ code: 'driver_error', message: expect.stringMatching(/died under the command: agent protocol error/) });
    expect(await sandbox.died).toMatch(/agent protocol error/);
    expect(calls).toEqual([]); // the protocol error is the reason; the Engine is not asked
    await expect(sandbox.exec(req, () => undefined, new AbortController().signal)).rejects.toMatchObject({ code: 'driver_error', message: expect.stringMatching(/is dead/) });
  });

  it('a container killed by its memory limit: the command ends `memory`, died says so', async () => {
    const { agent, sandbox } = await fakeSandbox({ Running: false, ExitCode: 137, OOMKilled: true });
    const running = sandbox.exec(req, () => undefined, new AbortController().signal);
    const write = await agent.opened('write');
    agent.result(write.id, { size: 1 });
    const exec = await agent.opened('exec');
    agent.json(exec.id, FrameType.STARTED, { pid: 9 });
    agent.die();
    expect(await running).toMatchObject({ limit: 'memory', signal: 'SIGKILL' });
    expect(await sandbox.died).toMatch(/ran out of memory \(limits.memory_mb 512\)/);
  });

  it('paused: exec is a conflict; resume lets it run; destroy is idempotent and died stays pending', async () => {
    const { sandbox, calls, released } = await fakeSandbox();
    await sandbox.pause!();
    await sandbox.pause!();
    await expect(sandbox.exec(req, () => undefined, new AbortController().signal)).rejects.toMatchObject({ code: 'conflict' });
    await sandbox.resume!();
    expect(calls).toEqual(['pause', 'unpause']);
    let died = false;
    void sandbox.died!.then(() => (died = true));
    await sandbox.destroy();
    await sandbox.destroy();
    await new Promise((r) => setTimeout(r, 20));
    expect({ released: released(), died, engine: calls.filter((c) => c === 'inspect' || c === 'wait') }).toEqual({ released: 1, died: false, engine: [] });
    await expect(sandbox.exec(req, () => undefined, new AbortController().signal)).rejects.toMatchObject({ message: expect.stringMatching(/destroyed/) });
  });
});
