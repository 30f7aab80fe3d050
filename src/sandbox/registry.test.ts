import { describe, expect, it } from 'vitest';
import type { DriverCapabilities, SandboxDriver } from './driver.js';
import { DriverSet } from './registry.js';

/** A driver stand-in: only the selection logic is under test here, not sandboxes. */
function driver(name: string, strength: number, network: ('none' | 'egress')[], probe: () => boolean): SandboxDriver {
  const capabilities: DriverCapabilities = {
    isolation: 'container',
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
    set.markFailed('docker', 'engine went away');
    expect(() => set.select({ driver: 'auto', network: 'egress' })).toThrow(/no available driver supports network "egress"/);
    expect(() => set.select({ driver: 'docker', network: 'none' })).toThrow(/engine went away/);
    dockerUp = true;
    expect((await set.refresh()).map((r) => r.name)).toEqual(['docker']);
    expect(set.select({ driver: 'docker', network: 'egress' }).name).toBe('docker');
  });

  it('names the known drivers when asked for an unknown one', async () => {
    const set = new DriverSet([driver('bwrap', 10, ['none'], () => true)]);
    await set.detect();
    expect(() => set.select({ driver: 'firecracker', network: 'none' })).toThrow(/unknown driver "firecracker"/);
  });
});
