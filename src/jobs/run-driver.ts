import type { Limits } from '../config/schema.js';
import { PaddockError } from '../errors.js';
import type { SandboxDriver } from '../sandbox/driver.js';
import { checkMinLimits, type DriverSet } from '../sandbox/registry.js';
import type { JobRow } from '../store/store.js';
import { fitLimits, type StoredSpec } from './submit-plan.js';

/**
 * The driver a claimed job runs on here. The submitting host chose `row.driver` (null when it could
 * not run the job itself and queued it for the fleet): a job that named its driver keeps it; an
 * `auto` job keeps it where it is available, else this host picks with its own `auto` and floor —
 * the claim already matched the job's needs (src/fleet/needs.ts) — and fits the limits to it.
 */
export function driverForRun(
  drivers: DriverSet,
  row: Pick<JobRow, 'driver'>,
  spec: StoredSpec,
  maxLimits: Limits,
): { driver: SandboxDriver; limits: StoredSpec['limits']; chosen: boolean } {
  const named = spec.driver !== 'auto' ? spec.driver : undefined;
  const kept = row.driver && (named || drivers.isAvailable(row.driver)) ? drivers.get(row.driver) : undefined;
  if (kept) return { driver: kept, limits: spec.limits, chosen: false };
  if (row.driver && named) throw new PaddockError('driver_unavailable', `driver ${row.driver} is not known to this runner`);
  const driver = drivers.select({ driver: spec.driver, network: spec.run_on?.network ?? 'none', isolation: spec.isolation });
  const limits = spec.run_on?.fit_driver ? { ...spec.limits, ...fitLimits(spec.limits, driver.minLimits, maxLimits) } : spec.limits;
  checkMinLimits(driver, limits);
  return { driver, limits, chosen: true };
}
