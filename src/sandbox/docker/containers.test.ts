import type Dockerode from 'dockerode';
import { describe, expect, it } from 'vitest';
import { UidRange } from '../uid-range.js';
import { Containers, strangers } from './containers.js';
import type { ImageResolver } from './images.js';
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

/** An Engine that records calls; `fail` makes create or start throw. */
function fakeEngine(fail?: 'create' | 'start') {
  const calls: string[] = [];
  const container = {
    id: 'c1',
    start: async () => {
      calls.push('start');
      if (fail === 'start') throw new Error('runc: cannot start');
    },
    remove: async () => void calls.push('remove'),
  };
  const docker = {
    createContainer: async (opts: Dockerode.ContainerCreateOptions) => {
      calls.push(`create ${opts.User}`);
      if (fail === 'create') throw new Error('no such runtime');
      return container;
    },
  } as unknown as Dockerode;
  const released: string[] = [];
  const uids = new UidRange(200_000, 4, 'docker.uid_range_*');
  const containers = new Containers({
    docker,
    images: { lookup: async () => ({ ref: 'img', launcher: 'plain' }) } as unknown as ImageResolver,
    uids,
    runner: 'r1',
    host: 'h1',
    runtime: 'runc',
    defaults: limits,
    egress: { release: async (id) => void released.push(id) },
  });
  return { containers, calls, uids, released, container: container as unknown as Dockerode.Container };
}

const key = { image: 'img', limits, network: 'none' as const };

describe('Containers', () => {
  it('holds a uid from create until the container is removed, and releases its egress rules', async () => {
    const e = fakeEngine();
    const box = await e.containers.start(key, { job: 'job_1' }, undefined);
    expect(e.calls).toEqual([`create ${box.uid}:${box.uid}`, 'start']);
    expect(e.uids.inUse).toBe(1);
    e.containers.removeLater(box.container);
    await e.containers.settled();
    expect(e.calls.at(-1)).toBe('remove');
    expect(e.released).toEqual(['c1']);
    expect(e.uids.inUse).toBe(0);
  });

  it('gives the uid back when the Engine refuses to create or to start', async () => {
    for (const fail of ['create', 'start'] as const) {
      const e = fakeEngine(fail);
      await expect(e.containers.start(key, {}, undefined)).rejects.toMatchObject({ code: 'driver_error' });
      expect(e.uids.inUse).toBe(0);
      expect(e.calls.includes('remove')).toBe(fail === 'start');
    }
  });
});
