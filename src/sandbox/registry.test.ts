import { describe, expect, it } from 'vitest';
import type { DriverCapabilities, SandboxDriver } from './driver.js';
import { checkMinLimits, DriverSet } from './registry.js';

/** A driver stand-in: only the selection logic is under test here, not sandboxes. */
function driver(
  name: string,
  strength: number,
  network: ('none' | 'egress')[],
  probe: () => boolean,
  isolation: DriverCapabilities['isolation'] = ({ 10: 'namespaces', 20: 'container', 30: 'gvisor' } as const)[strength as 10] ?? 'container',
): SandboxDriver {
  const capabilities: DriverCapabilities = {
    isolation,
    strength,
    network,
    images: true,
    persistent: false,
    snapshot: false,
    fork: false,
  };
  return {
    name,
    capabilities,
    detect: async () => (probe() ? { available: true } : { available: false, reason: `${name} is down` }),
    checkImage: async () => undefined,
    create: async () => {
      throw new Error('not used');
    },
    reapOrphans: async () => 0,
    close: async () => undefined,
  };
}

describe('DriverSet', () => {
  it("a job's own isolation floor: auto picks nothing weaker, a weaker named driver is refused; best() says what auto would pick", async () => {
    let gvisorUp = true;
    const set = new DriverSet(
      [driver('gvisor', 30, ['none'], () => gvisorUp), driver('docker', 20, ['none', 'egress'], () => true), driver('bwrap', 10, ['none', 'egress'], () => true)],
      { minIsolation: 'namespaces' },
    );
    await set.detect();
    expect(set.best()).toEqual({ none: 'gvisor', egress: 'container' });
    expect(set.select({ driver: 'auto', network: 'egress', isolation: 'container' }).name).toBe('docker');
    expect(() => set.select({ driver: 'auto', network: 'egress', isolation: 'gvisor' })).toThrow(
      /no driver here at or above isolation "gvisor" \(the job's isolation\) supports network "egress"/,
    );
    expect(() => set.select({ driver: 'bwrap', network: 'none', isolation: 'container' })).toThrow(/weaker than the isolation "container"/);
    gvisorUp = false;
    await set.suspect('gvisor');
    expect(set.best()).toEqual({ none: 'container', egress: 'container' });
    expect(set.isAvailable('gvisor')).toBe(false);
  });

  it('auto picks the strongest available driver that supports the network', async () => {
    let dockerUp = true;
    const set = new DriverSet([
      driver('gvisor', 30, ['none'], () => true),
      driver('docker', 20, ['none', 'egress'], () => dockerUp),
      driver('bwrap', 10, ['none'], () => true),
    ]);
    await set.detect();
    expect(set.select({ driver: 'auto', network: 'none' }).name).toBe('gvisor');
    expect(set.select({ driver: 'auto', network: 'egress' }).name).toBe('docker');
    dockerUp = false;
    await set.suspect('docker');
    expect(() => set.select({ driver: 'auto', network: 'egress' })).toThrow(/no driver at or above isolation "container"/);
    expect(() => set.select({ driver: 'docker', network: 'none' })).toThrow(/docker is down/);
    dockerUp = true;
    expect((await set.refresh()).map((r) => r.name)).toEqual(['docker']);
    expect(set.select({ driver: 'docker', network: 'egress' }).name).toBe('docker');
  });

  it('names the known drivers when asked for an unknown one', async () => {
    const set = new DriverSet([driver('bwrap', 10, ['none'], () => true)]);
    await set.detect();
    expect(() => set.select({ driver: 'firecracker', network: 'none' })).toThrow(/unknown driver "firecracker"/);
  });

  it('a failed job alone keeps a driver in auto: only its own probe takes it out', async () => {
    const set = new DriverSet([driver('gvisor', 30, ['none'], () => true), driver('bwrap', 10, ['none'], () => true)]);
    await set.detect();
    await set.suspect('gvisor'); // the probe still passes
    expect(set.select({ driver: 'auto', network: 'none' }).name).toBe('gvisor');
  });

  it('auto never falls below the isolation floor of start-up: 503 with Retry-After instead', async () => {
    let gvisorUp = true;
    const set = new DriverSet([driver('gvisor', 30, ['none'], () => gvisorUp), driver('bwrap', 10, ['none'], () => true)]);
    await set.detect();
    expect(set.floors()).toEqual({ none: 'gvisor' });
    gvisorUp = false;
    await set.suspect('gvisor');
    let err: any;
    try {
      set.select({ driver: 'auto', network: 'none' });
    } catch (e) {
      err = e;
    }
    expect({ code: err?.code, status: err?.status, retry: err?.retryAfterS }).toEqual({
      code: 'driver_unavailable',
      status: 503,
      retry: 15,
    });
    // Asking for the weaker driver by name is the user's own choice.
    expect(set.select({ driver: 'bwrap', network: 'none' }).name).toBe('bwrap');
    gvisorUp = true;
    await set.refresh();
    expect(set.select({ driver: 'auto', network: 'none' }).name).toBe('gvisor');
  });

  it('a configured min_isolation holds even when only weaker drivers were up at start', async () => {
    const set = new DriverSet([driver('docker', 20, ['none', 'egress'], () => false), driver('bwrap', 10, ['none'], () => true)], {
      minIsolation: 'container',
    });
    await set.detect();
    expect(set.floors()).toEqual({ none: 'container', egress: 'container' });
    expect(() => set.select({ driver: 'auto', network: 'none' })).toThrow(/at or above isolation "container"/);
  });

  it('refuses limits below a driver\'s measured minimum, naming it', () => {
    const d = { ...driver('gvisor', 30, ['none'], () => true), minLimits: { pids: 40, memory_mb: 24 } };
    const limits = { timeout_ms: 1000, memory_mb: 6, cpu_ms: 1000, pids: 64, output_bytes: 10, disk_mb: 1, open_files: 64, cpus: 1 };
    expect(() => checkMinLimits(d, limits)).toThrow(/limits.memory_mb = 6 is below the 24 that driver gvisor needs/);
    expect(() => checkMinLimits(d, { ...limits, memory_mb: 24 })).not.toThrow();
  });
});
