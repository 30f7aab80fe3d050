import { describe, expect, it } from 'vitest';
import { RESULT_OK, startFake } from '../../test/helpers/fake-agent.js';
import { FrameType } from './agent/protocol.js';
import { execOnAgent, type HostAccounting } from './agent-exec.js';
import type { ExecRequest } from './driver.js';

// An exec's own limits (ExecRequest.limits) through execOnAgent, against a fake agent.
const limits = { timeout_ms: 60_000, memory_mb: 512, cpu_ms: 5000, pids: 128, output_bytes: 100, disk_mb: 64, open_files: 256, cpus: 1 };
const req: ExecRequest = { argv: ['sh', '-c', 'x'], cwd: '/work', env: { PATH: '/bin' } };
const never = () => new AbortController().signal;

async function started(limitsOfExec: ExecRequest['limits'], extra: Partial<ExecRequest> = {}, accounting?: HostAccounting) {
  const { agent, client } = await startFake();
  const run = execOnAgent(client, { ...req, ...extra, limits: limitsOfExec }, () => undefined, never(), { limits, accounting, cpuPollMs: 5 });
  const { id, body } = await agent.opened('exec');
  agent.json(id, FrameType.STARTED, { pid: 7 });
  return { agent, client, run, id, body };
}

describe('execOnAgent with an exec\'s own limits', () => {
  it('sends wall_ms and kill_on_exit; without either, neither is sent', async () => {
    const a = await started({ wallMs: 300 }, { killOnExit: 'sandbox' });
    expect(a.body).toMatchObject({ wall_ms: 300, kill_on_exit: 'sandbox' });
    a.agent.result(a.id, RESULT_OK);
    await a.run;
    a.client.close();
    const b = await started(undefined);
    expect(b.body).not.toHaveProperty('wall_ms');
    expect(b.body).not.toHaveProperty('kill_on_exit');
    b.agent.result(b.id, RESULT_OK);
    expect((await b.run).limit).toBeUndefined();
    b.client.close();
  });

  it('killed "wall" is limit wall; proc carries the agent\'s figures beside the host\'s', async () => {
    const a = await started({ wallMs: 300 }, {}, { stats: () => ({ cpuMs: 10, maxRssKb: 9999, oomKilled: false }) });
    a.agent.result(a.id, { exit_code: null, signal: 'SIGKILL', killed: 'wall', wall_ms: 301, cpu_ms: 2, max_rss_kb: 1500 });
    expect(await a.run).toMatchObject({ limit: 'wall', signal: 'SIGKILL', maxRssKb: 9999, proc: { cpuMs: 2, maxRssKb: 1500, wallMs: 301 } });
    a.client.close();
  });

  it('SIGXFSZ is limit file_size only when the exec set fileSizeBytes', async () => {
    for (const fileSizeBytes of [1000, undefined]) {
      const a = await started(fileSizeBytes === undefined ? {} : { fileSizeBytes });
      a.agent.result(a.id, { ...RESULT_OK, exit_code: null, signal: 'SIGXFSZ' });
      expect((await a.run).limit).toBe(fileSizeBytes === undefined ? undefined : 'file_size');
      a.client.close();
    }
  });

  it('outputBytes tightens the cap; a larger one does not loosen the sandbox\'s', async () => {
    for (const [outputBytes, kept] of [[4, 4], [1000, 100]] as const) {
      const a = await started({ outputBytes });
      a.agent.data(a.id, 1, 'x'.repeat(200));
      await a.agent.next((f) => f.type === FrameType.CANCEL && f.stream === a.id);
      a.agent.result(a.id, { ...RESULT_OK, exit_code: null, signal: 'SIGKILL', killed: 'cancel' });
      expect(await a.run).toMatchObject({ limit: 'output', stdout: 'x'.repeat(kept) });
      a.client.close();
    }
  });

  it('the CPU watchdog stops at cpuMs when it is below cpu_ms', async () => {
    const now = { cpuMs: 0, maxRssKb: null, oomKilled: false };
    const a = await started({ cpuMs: 500 }, {}, { stats: () => ({ ...now }) });
    now.cpuMs = 400;
    await new Promise((r) => setTimeout(r, 30));
    expect(a.agent.all(a.id, FrameType.CANCEL)).toHaveLength(0);
    now.cpuMs = 520;
    await a.agent.next((f) => f.type === FrameType.CANCEL && f.stream === a.id);
    a.agent.result(a.id, { ...RESULT_OK, exit_code: null, signal: 'SIGKILL', killed: 'cancel' });
    expect(await a.run).toMatchObject({ limit: 'cpu', cpuMs: 520 });
    a.client.close();
  });

  it('refuses limits that are not whole numbers at their floor or above, before anything is sent', async () => {
    const { client } = await startFake();
    for (const bad of [{ cpuMs: 0 }, { wallMs: 1.5 }, { pids: -1 }, { outputBytes: Number.NaN }, { stackBytes: '8' as unknown as number }]) {
      await expect(execOnAgent(client, { ...req, limits: bad }, () => undefined, never(), { limits })).rejects.toMatchObject({ code: 'validation_failed' });
    }
    client.close();
  });
});
