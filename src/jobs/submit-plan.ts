import type { Config, Limits } from '../config/schema.js';
import { PaddockError } from '../errors.js';
import { jobNeeds, type Need, unmet } from '../fleet/needs.js';
import { checkMinLimits, type DriverSet } from '../sandbox/registry.js';
import type { NetworkMode, SandboxDriver } from '../sandbox/driver.js';
import { checkCallbackDestination } from './callbacks/url.js';
import type { JobKinds } from './kind.js';
import type { JobSpec } from './spec.js';

/** What is stored as a job's spec: the request as accepted, with limits resolved. */
export type StoredSpec = JobSpec & {
  limits: Limits & { idle_timeout_ms?: number | undefined };
  /** What the host that claims it needs to pick a driver itself (src/jobs/run-driver.ts). */
  run_on?: RunOn | undefined;
};

export interface RunOn {
  network: NetworkMode;
  /** The kind's limits are raised to the driver's minimum rather than refused. */
  fit_driver?: true | undefined;
}

/** Other hosts of a fleet, for a job this one cannot run (src/fleet/placement.ts). */
export interface FleetPlacement {
  /** Whether another host that is up meets all of `needs`. */
  elsewhere(needs: readonly Need[]): Promise<boolean>;
}

export interface PlanDeps {
  config: Config;
  drivers: DriverSet;
  kinds: JobKinds;
  placement?: FleetPlacement | undefined;
}

export interface SubmitPlan {
  stored: StoredSpec;
  /** The driver it runs on here, or undefined: it waits for another host that meets its needs. */
  driver: SandboxDriver | undefined;
  needs: Need[];
}

/** The errors that say "not on this host" rather than "not valid": another host may do. */
const NOT_HERE = new Set(['driver_unavailable', 'image_not_found', 'no_host_fits']);

/**
 * Everything a submit checks before the job is queued: its kind runs here, a driver fits it,
 * its limits (raised to the driver's minimum where the kind allows) and image, its callback.
 * Throws the 4xx that says which. In a fleet, a job this host cannot run is accepted when another
 * host that is up meets its needs; it is queued with them and only such a host claims it.
 */
export async function planSubmit(deps: PlanDeps, spec: JobSpec): Promise<SubmitPlan> {
  const { config, drivers } = deps;
  const kind = deps.kinds[spec.kind];
  if (!kind) throw new PaddockError('validation_failed', `this runner does not run ${spec.kind} jobs`, { field: 'kind' });
  const plan = kind.plan(spec, config);
  if (spec.callback_url) checkCallbackDestination(spec.callback_url, config.callbacks);
  const wants = { driver: spec.driver, network: plan.network, isolation: spec.isolation };
  const needs = jobNeeds({ ...wants, image: plan.image, hostLabels: spec.host_labels });
  const runOn: RunOn = { network: plan.network, ...(plan.fitDriver ? { fit_driver: true as const } : {}) };
  try {
    const labels = unmet(jobNeeds({ driver: 'auto', network: 'none', hostLabels: spec.host_labels }), ownLabels(config));
    if (labels.length) {
      throw new PaddockError('no_host_fits', `no host has the labels ${labels.map((l) => l.slice(6)).join(', ')}`, {
        field: 'host_labels',
        missing: labels.map((l) => l.slice(6)),
      });
    }
    const driver = drivers.select(wants);
    const limits = plan.fitDriver ? fitLimits(plan.limits, driver.minLimits, config.limits.max) : plan.limits;
    checkMinLimits(driver, limits);
    if (plan.image) await driver.checkImage(plan.image);
    return { stored: { ...spec, ...plan.stored, limits, run_on: runOn }, driver, needs };
  } catch (err) {
    if (!(err instanceof PaddockError) || !NOT_HERE.has(err.code) || !deps.placement) throw err;
    // The host that claims it picks the driver and fits the limits to it (src/jobs/run-driver.ts).
    if (await deps.placement.elsewhere(needs)) {
      return { stored: { ...spec, ...plan.stored, limits: plan.limits, run_on: runOn }, driver: undefined, needs };
    }
    throw err;
  }
}

const ownLabels = (config: Config) => Object.entries(config.fleet.labels).map(([k, v]) => `label:${k}=${v}`);

/** Each limit raised to the driver's minimum where it is below it, never past the runner's maximum. */
export function fitLimits(limits: Limits, min: Partial<Limits> | undefined, max: Limits): Limits {
  const out = { ...limits };
  for (const [k, v] of Object.entries(min ?? {}) as [keyof Limits, number][]) out[k] = Math.min(Math.max(out[k], v), max[k]);
  return out;
}
