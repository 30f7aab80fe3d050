import type { Config } from '../config/schema.js';
import { PaddockError } from '../errors.js';
import { allDrivers } from '../sandbox/all-drivers.js';
import { DriverSet } from '../sandbox/registry.js';
import type { Logger } from '../util/log.js';
import { LanguageHealth, type LanguageStatus } from './health.js';
import { type Language, LANGUAGES } from './languages.js';
import { smokeProbe } from './smoke.js';

export interface ImageSmoke {
  /** The driver the smoke programs ran on: the one judge jobs get by default. */
  driver: string;
  languages: LanguageStatus[];
}

/**
 * The judge languages' smoke programs, run once on a freshly built judge image exactly as the
 * runner runs them at start and every smoke_interval_ms (the same probe, driver choice and limits),
 * so an image that would give wrong verdicts is caught by the command that built it.
 */
export async function smokeJudgeImage(config: Config, log: Logger, languages: readonly Language[] = LANGUAGES): Promise<ImageSmoke> {
  const drivers = new DriverSet(allDrivers(config, log), { minIsolation: config.sandbox.min_isolation });
  try {
    await drivers.detect();
    let driver;
    try {
      driver = drivers.select({ driver: 'auto', network: 'none' });
    } catch (err) {
      throw new PaddockError('driver_unavailable', `no sandbox driver to run the judge smoke programs on: ${(err as Error).message}`);
    }
    const health = new LanguageHealth(smokeProbe(config, () => driver), log, languages);
    await health.checkAll();
    return { driver: driver.name, languages: health.list() };
  } finally {
    await drivers.close();
  }
}
