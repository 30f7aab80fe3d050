import type { Config, Limits } from '../config/schema.js';
import { PaddockError } from '../errors.js';

/** Fills a job's limits from the runner's defaults; a value above the maximum is refused, not clamped. */
export function resolveLimits(requested: Partial<Limits>, config: Pick<Config, 'limits'>): Limits {
  const limits = { ...config.limits.default };
  for (const [key, value] of Object.entries(requested) as [keyof Limits, number | undefined][]) {
    if (value === undefined) continue;
    const max = config.limits.max[key];
    if (value > max) {
      throw new PaddockError('limit_exceeded', `limits.${key} = ${value} is above this runner's maximum of ${max}`, {
        field: `limits.${key}`,
        max,
      });
    }
    limits[key] = value;
  }
  return limits;
}
