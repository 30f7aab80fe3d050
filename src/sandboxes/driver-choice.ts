import { PaddockError } from '../errors.js';
import type { NetworkMode, SandboxDriver } from '../sandbox/driver.js';
import { type DriverSet, ISOLATION_ORDER } from '../sandbox/registry.js';

/**
 * The driver for a new sandbox: as for jobs (DriverSet.select, same floor), but
 * it must keep a sandbox between execs. With `auto`, when the strongest driver
 * cannot, the strongest one that can and is at or above the floor is taken.
 */
export function selectPersistentDriver(drivers: DriverSet, needs: { driver: string; network: NetworkMode }): SandboxDriver {
  const chosen = drivers.select(needs);
  if (chosen.capabilities.persistent) return chosen;
  if (needs.driver !== 'auto') {
    throw new PaddockError('driver_unavailable', `driver ${chosen.name} cannot keep a sandbox between execs`, {
      driver: chosen.name,
    });
  }
  const floor = drivers.floors()[needs.network];
  const best = drivers
    .list()
    .filter((r) => r.available && r.capabilities.persistent && r.capabilities.network.includes(needs.network))
    .filter((r) => floor === undefined || ISOLATION_ORDER.indexOf(r.capabilities.isolation) >= ISOLATION_ORDER.indexOf(floor))
    .sort((a, b) => b.capabilities.strength - a.capabilities.strength)[0];
  const driver = best && drivers.get(best.name);
  if (!driver) {
    throw new PaddockError('driver_unavailable', `no driver here can keep a sandbox with network "${needs.network}"`, {
      drivers: drivers.list().map((r) => ({ name: r.name, available: r.available, persistent: r.capabilities.persistent })),
    });
  }
  return driver;
}
