import { afterEach, describe, expect, it } from 'vitest';
import { STORE_ENGINES } from '../../test/helpers/postgres.js';
import { loadConfig } from '../config/load.js';
import type { DriverReport } from '../sandbox/registry.js';
import { openStore, type Store } from '../store/store.js';
import { createLogger } from '../util/log.js';
import { HostCapabilities } from './capabilities.js';
import { hostHealth, HostRegistry } from './registry.js';

const driver = (name: string, available: boolean) =>
  ({ name, available, capabilities: { isolation: name === 'gvisor' ? 'gvisor' : 'namespaces' } }) as unknown as DriverReport;

function registry(store: Store, hostId: string, over: { running?: () => number; labels?: Record<string, string> } = {}) {
  const config = loadConfig({
    env: {},
    flags: {
      data_dir: '/tmp/unused',
      host_id: hostId,
      max_concurrent_jobs: 4,
      fleet: { heartbeat_ms: 100, host_timeout_ms: 500, advertise_url: `http://${hostId}.internal:7878/`, labels: over.labels ?? {} },
    },
  });
  let drivers = [driver('bwrap', true), driver('gvisor', false)];
  const log = createLogger('silent');
  const list = () => drivers;
  // What `auto` would pick: the strongest available (both isolate network "none" only here).
  const best = () => ({ none: drivers.some((d) => d.name === 'gvisor' && d.available) ? ('gvisor' as const) : ('namespaces' as const) });
  const caps = new HostCapabilities({ drivers: { list, best }, labels: config.fleet.labels, listImages: async () => ['base', 'python'], log });
  const reg = new HostRegistry({ store, config, drivers: { list }, log, running: over.running ?? (() => 0), caps });
  return { reg, setDrivers: (d: DriverReport[]) => (drivers = d) };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('hostHealth', () => {
  it('is the host\'s own state until its heartbeat is older than the timeout, then lost; stopped stays stopped', () => {
    const at = '2026-01-01T00:00:00.000Z';
    const t = Date.parse(at);
    expect(hostHealth({ state: 'up', heartbeat_at: at }, t + 1000, 1000)).toBe('up');
    expect(hostHealth({ state: 'draining', heartbeat_at: at }, t + 500, 1000)).toBe('draining');
    expect(hostHealth({ state: 'up', heartbeat_at: at }, t + 1001, 1000)).toBe('lost');
    expect(hostHealth({ state: 'stopped', heartbeat_at: at }, t + 99_999, 1000)).toBe('stopped');
  });
});

describe.each(STORE_ENGINES)('host registry ($engine)', ({ fresh }) => {
  const open: Store[] = [];
  const regs: HostRegistry[] = [];
  afterEach(async () => {
    await Promise.all(regs.splice(0).map((r) => r.stop().catch(() => undefined)));
    await Promise.all(open.splice(0).map((s) => s.close()));
  });

  it('registers each host with what it offers; heartbeats carry its load; a silent host turns lost', async () => {
    const url = await fresh();
    const store = await openStore(url);
    open.push(store);
    let running = 0;
    const a = registry(store, 'host-a', { running: () => running, labels: { region: 'eu' } });
    const b = registry(store, 'host-b');
    regs.push(a.reg, b.reg);
    await a.reg.start();
    await b.reg.start();
    const first = await a.reg.list();
    expect(first.map((h) => [h.id, h.health])).toEqual([
      ['host-a', 'up'],
      ['host-b', 'up'],
    ]);
    expect(first[0]).toMatchObject({
      address: 'http://host-a.internal:7878',
      reachable: true,
      capacity: 4,
      running: 0,
      labels: { region: 'eu' },
      images: ['base', 'python'],
      caps: ['driver:bwrap', 'run:none:namespaces', 'image:base', 'image:python', 'label:region=eu'],
      drivers: [
        { name: 'bwrap', available: true, isolation: 'namespaces' },
        { name: 'gvisor', available: false, isolation: 'gvisor' },
      ],
    });
    running = 3;
    a.setDrivers([driver('bwrap', true), driver('gvisor', true)]);
    await sleep(300);
    const later = (await b.reg.list()).find((h) => h.id === 'host-a')!;
    expect(later.running).toBe(3);
    expect(later.drivers.every((d) => d.available)).toBe(true);
    // What it offers follows: gvisor up means jobs that name it, or ask for that isolation, may come here.
    expect(later.caps).toEqual(expect.arrayContaining(['driver:gvisor', 'run:none:gvisor', 'run:none:container']));
    expect(Date.parse(later.heartbeat_at)).toBeGreaterThan(Date.parse(first[0]!.heartbeat_at));

    // host-b dies without a word (its timer stops, its row stays): lost after host_timeout_ms.
    await b.reg.stop();
    await store.heartbeatHost('host-b', { state: 'up' });
    expect((await a.reg.list()).find((h) => h.id === 'host-b')!.health).toBe('up');
    await sleep(700);
    expect((await a.reg.list()).find((h) => h.id === 'host-b')!.health).toBe('lost');
    expect((await a.reg.list()).find((h) => h.id === 'host-a')!.health).toBe('up');
  });

  it('drains, then stops; a restart under the same id is up again', async () => {
    const store = await openStore(await fresh());
    open.push(store);
    const a = registry(store, 'host-a');
    await a.reg.start();
    await a.reg.drain();
    expect((await a.reg.list())[0]!.health).toBe('draining');
    await a.reg.stop();
    expect((await a.reg.list())[0]!.health).toBe('stopped');
    const again = registry(store, 'host-a');
    regs.push(again.reg);
    await again.reg.start();
    expect((await again.reg.list()).map((h) => h.health)).toEqual(['up']);
  });

  it('a failing heartbeat is a /health problem, not a crash, and clears when the store answers again', async () => {
    const store = await openStore(await fresh());
    open.push(store);
    let fail = false;
    const flaky: Store = {
      ...store,
      heartbeatHost: (...args) => (fail ? Promise.reject(new Error('connection refused')) : store.heartbeatHost(...args)),
    };
    const a = registry(flaky, 'host-a');
    regs.push(a.reg);
    await a.reg.start();
    expect(a.reg.problem()).toBeUndefined();
    fail = true;
    await sleep(250);
    expect(a.reg.problem()).toMatch(/^store_unavailable: heartbeat failed \(connection refused\)/);
    fail = false;
    await sleep(250);
    expect(a.reg.problem()).toBeUndefined();
  });
});
