import { describe, expect, it } from 'vitest';
import type { DriverCapabilities, SandboxDriver } from '../sandbox/driver.js';
import { DriverSet } from '../sandbox/registry.js';
import { selectPersistentDriver } from './driver-choice.js';

/** Only selection is under test: drivers that say what they are and never create anything. */
function driver(name: string, strength: number, isolation: DriverCapabilities['isolation'], persistent: boolean, up = () => true): SandboxDriver {
  return {
    name,
    capabilities: { isolation, strength, network: ['none'], images: true, persistent, snapshot: false, fork: false },
    detect: async () => (up() ? { available: true } : { available: false, reason: `${name} is down` }),
    checkImage: async () => undefined,
    create: async () => {
      throw new Error('not used');
    },
    reapOrphans: async () => 0,
    close: async () => undefined,
  };
}

const none = (d: string) => ({ driver: d, network: 'none' as const });

describe('selectPersistentDriver', () => {
  it('auto takes the strongest driver that keeps sandboxes, at or above the floor', async () => {
    const set = new DriverSet(
      [driver('vm', 40, 'microvm', false), driver('gvisor', 30, 'gvisor', true), driver('docker', 20, 'container', true)],
      { minIsolation: 'container' },
    );
    await set.detect();
    expect(selectPersistentDriver(set, none('auto')).name).toBe('gvisor');
    expect(selectPersistentDriver(set, none('docker')).name).toBe('docker');
    expect(() => selectPersistentDriver(set, none('vm'))).toThrow(/driver vm cannot keep a sandbox between execs/);
  });

  it('auto never goes below the floor for a driver that keeps sandboxes', async () => {
    const set = new DriverSet([driver('gvisor', 30, 'gvisor', false), driver('bwrap', 10, 'namespaces', true)]);
    await set.detect();
    // The floor is gvisor (the strongest at start): bwrap would keep sandboxes, but below it.
    expect(() => selectPersistentDriver(set, none('auto'))).toThrow(/no driver here can keep a sandbox/);
    expect(selectPersistentDriver(set, none('bwrap')).name).toBe('bwrap');
  });

  it('the usual refusals of select come first (unknown driver, driver down)', async () => {
    let up = true;
    const set = new DriverSet([driver('docker', 20, 'container', true, () => up)]);
    await set.detect();
    expect(() => selectPersistentDriver(set, none('nope'))).toThrow(/unknown driver "nope"/);
    up = false;
    await set.suspect('docker');
    expect(() => selectPersistentDriver(set, none('docker'))).toThrow(/docker is down/);
  });
});
