import { Duplex } from 'node:stream';
import type Dockerode from 'dockerode';
import pino from 'pino';
import { describe, expect, it, vi } from 'vitest';
import { encodeFrame } from '../agent/frame.js';
import { FrameType } from '../agent/protocol.js';
import { UidRange } from '../uid-range.js';
import { Containers, EXIT_GRACE_MS, strangers } from './containers.js';
import { LABELS } from './labels.js';

const limits = { timeout_ms: 60_000, memory_mb: 512, cpu_ms: 60_000, pids: 128, output_bytes: 1 << 20, disk_mb: 64, open_files: 256, cpus: 1 };
const info = (Id: string, runner: string, Created: number) => ({ Id, Created, Labels: { [LABELS.runner]: runner } }) as unknown as Dockerode.ContainerInfo;

describe('strangers', () => {
  it("keeps only this runner's settled containers that nothing here holds", () => {
    const list = [info('held', 'r1', 10), info('other-runner', 'r2', 10), info('young', 'r1', 100), info('orphan', 'r1', 50)];
    const ids = strangers(list, { runner: 'r1', live: new Set(['held']), settledS: 50 }).map((c) => c.Id);
    expect(ids).toEqual(['orphan']);
  });
});

/** One frame of Docker's multiplexed attach stream (1 stdout, 2 stderr). */
const muxed = (id: number, payload: Buffer) => {
  const h = Buffer.alloc(8);
  h[0] = id;
  h.writeUInt32BE(payload.length, 4);
  return Buffer.concat([h, payload]);
};

/**
 * An Engine that records calls; `fail` makes create, start or the agent's HELLO fail. The
 * attach stream says HELLO (in the stdout channel) once the container is started, as the agent does.
 */
function fakeEngine(fail?: 'create' | 'start' | 'hello', o: { hangs?: boolean } = {}) {
  const calls: string[] = [];
  const attached = new Duplex({ read() {}, write(_c, _e, cb) { cb(); } });
  const hello = Buffer.from(JSON.stringify({ protocol: fail === 'hello' ? 99 : 1, version: 'test', pid: 1 }));
  const container = {
    id: 'c1',
    attach: async () => (calls.push('attach'), attached),
    start: async () => {
      calls.push('start');
      if (fail === 'start') throw new Error('runc: cannot start');
      attached.push(muxed(2, Buffer.from('agent diagnostics\n')));
      attached.push(muxed(1, encodeFrame(0, FrameType.HELLO, hello)));
    },
    inspect: async () => ({ State: { Running: true, ExitCode: 0, OOMKilled: false } }),
    // The agent exits when its stdin ends (the session's close), and the container stops; a hung one never does.
    wait: async () => {
      calls.push('wait');
      if (o.hangs) return new Promise(() => undefined);
      if (!attached.destroyed) await new Promise((r) => attached.once('close', r));
      calls.push('stopped');
    },
    remove: async () => void calls.push('remove'),
  };
  const docker = {
    createContainer: async (opts: Dockerode.ContainerCreateOptions) => {
      calls.push(`create ${opts.Cmd?.join(' ')}`);
      if (fail === 'create') throw new Error('no such runtime');
      return container;
    },
  } as unknown as Dockerode;
  const released: string[] = [];
  const uids = new UidRange(200_000, 4, 'docker.uid_range_*');
  const logged: unknown[] = [];
  const log = pino({ level: 'warn' }, { write: (line: string) => void logged.push(JSON.parse(line)) });
  const containers = new Containers({
    docker,
    uids,
    runner: 'r1',
    host: 'h1',
    runtime: 'runc',
    defaults: limits,
    egress: { release: async (id) => void released.push(id) },
    agentPath: '/agent',
    log,
  });
  return { containers, calls, uids, released, logged, container: container as unknown as Dockerode.Container };
}

const key = { image: 'img', limits, network: 'none' as const };

describe('Containers', () => {
  it('holds a uid from create until the container is removed, and releases its egress rules', async () => {
    const e = fakeEngine();
    const box = await e.containers.start(key, { job: 'job_1' }, undefined);
    // Attached before the start: the agent's HELLO is its first output and Docker keeps no log.
    expect(e.calls).toEqual([`create --run-as=${box.uid}`, 'attach', 'start']);
    expect(box.agent.session.agent).toEqual({ version: 'test', pid: 1 });
    expect(e.logged).toContainEqual(expect.objectContaining({ containerId: 'c1', sandboxId: 'job_1', agent: 'agent diagnostics' }));
    expect(e.uids.inUse).toBe(1);
    e.containers.discard(box);
    await e.containers.settled();
    expect(box.agent.session.error?.code).toBe('agent_died');
    // Removed once it stopped by itself (a gVisor sandbox removed by force mid-teardown stalled its shim).
    expect(e.calls.slice(-3)).toEqual(['wait', 'stopped', 'remove']);
    expect(e.released).toEqual(['c1']);
    expect(e.uids.inUse).toBe(0);
  });

  it('removes a discarded container that does not stop by itself after a bounded wait', async () => {
    vi.useFakeTimers();
    try {
      const e = fakeEngine(undefined, { hangs: true });
      const box = await e.containers.start(key, { job: 'job_1' }, undefined);
      e.containers.discard(box);
      let settled = false;
      void e.containers.settled().then(() => (settled = true));
      await vi.advanceTimersByTimeAsync(EXIT_GRACE_MS - 100);
      expect({ settled, last: e.calls.at(-1), inUse: e.uids.inUse }).toEqual({ settled: false, last: 'wait', inUse: 1 });
      await vi.advanceTimersByTimeAsync(200);
      expect({ settled, last: e.calls.at(-1), inUse: e.uids.inUse }).toEqual({ settled: true, last: 'remove', inUse: 0 });
    } finally {
      vi.useRealTimers();
    }
  });

  it('gives the uid back when the Engine refuses to create or to start, or the agent says no valid HELLO', async () => {
    for (const fail of ['create', 'start', 'hello'] as const) {
      const e = fakeEngine(fail);
      await expect(e.containers.start(key, {}, undefined)).rejects.toMatchObject({ code: 'driver_error' });
      expect(e.uids.inUse).toBe(0);
      expect(e.calls.includes('remove')).toBe(fail !== 'create');
    }
  });
});
