import { describe, expect, it } from 'vitest';
import { RESULT_OK, sentData, startFake } from '../../test/helpers/fake-agent.js';
import { FrameType } from './agent/protocol.js';
import { execOnAgent, type HostAccounting } from './agent-exec.js';
import type { ExecRequest } from './driver.js';

const limits = { timeout_ms: 60_000, memory_mb: 512, cpu_ms: 1000, pids: 128, output_bytes: 10, disk_mb: 64, open_files: 256, cpus: 1 };
const req: ExecRequest = { argv: ['sh', '-c', 'x'], cwd: '/work', env: { PATH: '/bin' } };
const never = () => new AbortController().signal;

/** Host figures a test moves by hand. */
function host(start: { cpuMs: number | null; maxRssKb: number | null; oomKilled?: boolean }) {
  const now = { oomKilled: false, ...start };
  const accounting: HostAccounting = { stats: () => ({ ...now }) };
  return { now, accounting };
}

describe('execOnAgent over a fake agent', () => {
  it('passes the request and stdin, and answers with host figures over the agent\'s', async () => {
    const { agent, client } = await startFake();
    const h = host({ cpuMs: 500, maxRssKb: 100 });
    const run = execOnAgent(client, { ...req, stdin: Buffer.from('in') }, () => undefined, never(), { limits, accounting: h.accounting, rlimits: { cpu: 2 } });
    const { id, body } = await agent.opened('exec');
    expect(body).toMatchObject({ argv: req.argv, env: req.env, cwd: '/work', stdin: true, rlimits: { cpu: 2 } });
    agent.json(id, FrameType.STARTED, { pid: 7 });
    await agent.next((f) => f.type === FrameType.EOF && f.stream === id);
    expect(sentData(agent, id).toString()).toBe('in');
    agent.data(id, 1, 'out');
    agent.data(id, 2, 'err');
    h.now.cpuMs = 740;
    h.now.maxRssKb = 2048;
    agent.result(id, { exit_code: 3, signal: null, wall_ms: 5, cpu_ms: 1, max_rss_kb: 1 });
    expect(await run).toMatchObject({ exitCode: 3, signal: null, stdout: 'out', stderr: 'err', cpuMs: 240, maxRssKb: 2048, limit: undefined, aborted: undefined });
    client.close();
  });

  it('caps output per stream: past the cap it cancels and says `output`; a signal N is exit 128+N', async () => {
    const { agent, client } = await startFake();
    const seen: string[] = [];
    const run = execOnAgent(client, req, (s, c) => seen.push(`${s}:${c}`), never(), { limits });
    const { id } = await agent.opened('exec');
    agent.json(id, FrameType.STARTED, { pid: 7 });
    agent.data(id, 1, '0123456789abcdef');
    await agent.next((f) => f.type === FrameType.CANCEL && f.stream === id);
    agent.result(id, { ...RESULT_OK, exit_code: null, signal: 'SIGKILL' });
    const r = await run;
    expect({ out: r.stdout, truncated: r.stdoutTruncated, limit: r.limit, exit: r.exitCode, signal: r.signal }).toEqual({
      out: '0123456789',
      truncated: true,
      limit: 'output',
      exit: 137,
      signal: 'SIGKILL',
    });
    expect(seen).toEqual(['stdout:0123456789']);
    client.close();
  });

  it('cancels once the sandbox\'s CPU time passes cpu_ms (the whole tree, from the host)', async () => {
    const { agent, client } = await startFake();
    const h = host({ cpuMs: 100, maxRssKb: null });
    const run = execOnAgent(client, req, () => undefined, never(), { limits, accounting: h.accounting, cpuPollMs: 5 });
    const { id } = await agent.opened('exec');
    agent.json(id, FrameType.STARTED, { pid: 7 });
    await new Promise((r) => setTimeout(r, 30));
    expect(agent.all(id, FrameType.CANCEL)).toHaveLength(0);
    h.now.cpuMs = 1200; // 1100 ms used, over 1000
    await agent.next((f) => f.type === FrameType.CANCEL && f.stream === id);
    agent.result(id, { ...RESULT_OK, exit_code: null, signal: 'SIGKILL' });
    expect(await run).toMatchObject({ limit: 'cpu', cpuMs: 1100, aborted: undefined });
    client.close();
  });

  it('an abort cancels and is reported as aborted; the sandbox dying after it still ends the command so', async () => {
    const { agent, client } = await startFake();
    const ac = new AbortController();
    const h = host({ cpuMs: 0, maxRssKb: 300 });
    const run = execOnAgent(client, req, () => undefined, ac.signal, { limits, accounting: h.accounting });
    const { id } = await agent.opened('exec');
    agent.json(id, FrameType.STARTED, { pid: 7 });
    ac.abort('timeout');
    await agent.next((f) => f.type === FrameType.CANCEL && f.stream === id);
    h.now.cpuMs = null; // the container and its cgroup are gone
    h.now.maxRssKb = null;
    agent.die();
    expect(await run).toMatchObject({ aborted: 'timeout', signal: 'SIGKILL', exitCode: 137, limit: undefined, maxRssKb: 300, cpuMs: null });
  });

  it('an exec the agent could not start fails at once, without waiting for the sandbox to die', async () => {
    const { agent, client } = await startFake();
    // A driver's diedOfMemory may wait for the sandbox's death (docker's does): asking it here would hang.
    const run = execOnAgent(client, req, () => undefined, never(), { limits, diedOfMemory: () => new Promise<boolean>(() => undefined) });
    const { id } = await agent.opened('exec');
    agent.error(id, 'exec_failed', 'resource temporarily unavailable');
    await expect(run).rejects.toMatchObject({ name: 'AgentError', agentCode: 'exec_failed' });
    client.close();
  });

  it('a sandbox that dies under the command fails it, unless its memory limit killed it', async () => {
    for (const oom of [false, true]) {
      const { agent, client } = await startFake();
      const run = execOnAgent(client, req, () => undefined, never(), { limits, diedOfMemory: async () => oom });
      const { id } = await agent.opened('exec');
      agent.json(id, FrameType.STARTED, { pid: 7 });
      agent.data(id, 1, 'partial');
      await new Promise((r) => setTimeout(r, 10));
      agent.die();
      if (oom) await expect(run).resolves.toMatchObject({ limit: 'memory', signal: 'SIGKILL', stdout: 'partial' });
      else await expect(run).rejects.toMatchObject({ code: 'agent_died' });
    }
  });

  it("a sandbox that dies after its cgroup's OOM killer struck during the command: memory, though the driver cannot tell", async () => {
    // gVisor: the host OOM killer may pick the sentry, and Docker's OOMKilled flag can come too late.
    const { agent, client } = await startFake();
    let oomKilled = false;
    const accounting = { stats: () => ({ cpuMs: 1, maxRssKb: 1000, oomKilled }) };
    const run = execOnAgent(client, req, () => undefined, never(), { limits, accounting, cpuPollMs: 5, diedOfMemory: async () => false });
    const { id } = await agent.opened('exec');
    agent.json(id, FrameType.STARTED, { pid: 7 });
    oomKilled = true;
    await new Promise((r) => setTimeout(r, 30));
    oomKilled = false; // the cgroup is gone with the sandbox: nothing to read any more
    agent.die();
    await expect(run).resolves.toMatchObject({ limit: 'memory', signal: 'SIGKILL' });
  });
});
