import type { Config, Limits } from '../config/schema.js';
import { PaddockError } from '../errors.js';
import { checkMinLimits, type DriverSet } from '../sandbox/registry.js';
import type { SandboxDriver } from '../sandbox/driver.js';
import { checkCallbackDestination } from './callbacks/url.js';
import type { JobKinds } from './kind.js';
import type { JobSpec } from './spec.js';

/** What is stored as a job's spec: the request as accepted, with limits resolved. */
export type StoredSpec = JobSpec & { limits: Limits & { idle_timeout_ms?: number | undefined } };

/**
 * Everything a submit checks before the job is queued: its kind runs here, a driver fits it,
 * its limits (raised to the driver's minimum where the kind allows) and image, its callback.
 * Throws the 4xx that says which; returns the spec to store and the driver it will run on.
 */
export async function planSubmit(
  deps: { config: Config; drivers: DriverSet; kinds: JobKinds },
  spec: JobSpec,
): Promise<{ stored: StoredSpec; driver: SandboxDriver }> {
  const { config, drivers } = deps;
  const kind = deps.kinds[spec.kind];
  if (!kind) throw new PaddockError('validation_failed', `this runner does not run ${spec.kind} jobs`, { field: 'kind' });
  const plan = kind.plan(spec, config);
  const driver = drivers.select({ driver: spec.driver, network: plan.network });
  const limits = plan.fitDriver ? fitLimits(plan.limits, driver.minLimits, config.limits.max) : plan.limits;
  checkMinLimits(driver, limits);
  if (plan.image) await driver.checkImage(plan.image);
  if (spec.callback_url) checkCallbackDestination(spec.callback_url, config.callbacks);
  return { stored: { ...spec, ...plan.stored, limits }, driver };
}

/** Each limit raised to the driver's minimum where it is below it, never past the runner's maximum. */
function fitLimits(limits: Limits, min: Partial<Limits> | undefined, max: Limits): Limits {
  const out = { ...limits };
  for (const [k, v] of Object.entries(min ?? {}) as [keyof Limits, number][]) out[k] = Math.min(Math.max(out[k], v), max[k]);
  return out;
}
