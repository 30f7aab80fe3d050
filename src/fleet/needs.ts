import type { NetworkMode } from '../sandbox/driver.js';
import { ISOLATION_ORDER, type Isolation } from '../sandbox/registry.js';

/**
 * What a queued job needs of the host that runs it, and what a host offers, as one set of strings
 * each, so the claim is a subset test the store does in SQL (src/store/ops/jobs-write.ts):
 *   driver:<name>          a named driver, available there
 *   run:<network>:<floor>  `auto` finds a driver for that network at or above that isolation
 *   image:<name>           that image is built there
 *   label:<key>=<value>    the host's fleet.labels say so (gpu, region, …)
 * Every part was checked against its grammar at the API boundary (src/jobs/spec-fields.ts).
 */
export type Need = string;

export interface JobWants {
  /** A named driver, or `auto`. */
  driver: string;
  network: NetworkMode;
  /** The weakest isolation the job accepts (its `isolation`); only with `auto`. */
  isolation?: Isolation | undefined;
  image?: string | undefined;
  hostLabels?: Record<string, string> | undefined;
}

/**
 * The needs of a job. A job with none (auto, no network, default image, no host labels) costs the
 * claim nothing; most jobs are that.
 */
export function jobNeeds(w: JobWants): Need[] {
  const needs: Need[] = [];
  if (w.driver !== 'auto') needs.push(`driver:${w.driver}`);
  else if (w.isolation || w.network !== 'none') needs.push(`run:${w.network}:${w.isolation ?? ISOLATION_ORDER[0]}`);
  if (w.image) needs.push(`image:${w.image}`);
  for (const [k, v] of Object.entries(w.hostLabels ?? {})) needs.push(`label:${k}=${v}`);
  return needs;
}

export interface HostOffer {
  /** Drivers available now. */
  drivers: readonly string[];
  /** Per network mode, the strongest isolation `auto` would pick there now (absent: none). */
  best: Partial<Record<NetworkMode, Isolation>>;
  images: readonly string[];
  labels: Record<string, string>;
}

/** What a host offers: every need it meets (an isolation covers every weaker one). */
export function hostCaps(o: HostOffer): Need[] {
  const caps = o.drivers.map((d) => `driver:${d}`);
  for (const [network, best] of Object.entries(o.best) as [NetworkMode, Isolation][]) {
    for (const level of ISOLATION_ORDER.slice(0, ISOLATION_ORDER.indexOf(best) + 1)) caps.push(`run:${network}:${level}`);
  }
  for (const image of o.images) caps.push(`image:${image}`);
  for (const [k, v] of Object.entries(o.labels)) caps.push(`label:${k}=${v}`);
  return caps;
}

/** The needs `caps` does not meet (empty: the host can run the job). */
export function unmet(needs: readonly Need[], caps: readonly Need[]): Need[] {
  const have = new Set(caps);
  return needs.filter((n) => !have.has(n));
}
