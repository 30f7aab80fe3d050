import { PaddockError } from '../../errors.js';
import type { SandboxSpec } from '../driver.js';

/** Limits that decide whether a container can start at all (the rest are enforced by the runner). */
const START_LIMITS = ['memory_mb', 'pids', 'open_files', 'disk_mb'] as const;

/**
 * A container that does not start. The probe started one with the default
 * limits, so when the job asked for less of something a container needs to
 * start, its own limits are the likely cause: that is the job's failure
 * (`limit_too_small`, which leaves the driver in `auto`), not the Engine's.
 */
export function startFailure(why: string, limits: SandboxSpec['limits'], defaults: SandboxSpec['limits']): PaddockError {
  const small = START_LIMITS.filter((k) => limits[k] < defaults[k]).map((k) => `${k} ${limits[k]}`);
  if (small.length) {
    return new PaddockError(
      'limit_too_small',
      `the container could not start with this job's limits (${small.join(', ')}): ${why}`,
      { limits: Object.fromEntries(START_LIMITS.map((k) => [k, limits[k]])) },
    );
  }
  return new PaddockError('driver_error', `cannot start container: ${why}`);
}
