import type { Limits } from '../config/schema.js';
import { PaddockError } from '../errors.js';
import type { DriverAvailability, DriverCapabilities, NetworkMode, SandboxDriver } from './driver.js';

/** How long a client should wait before retrying when no driver at or above the floor is up. */
const RETRY_AFTER_S = 15;

export type Isolation = DriverCapabilities['isolation'];
/** Isolation kinds, weakest first; `sandbox.min_isolation` names one of them. */
export const ISOLATION_ORDER: readonly Isolation[] = ['namespaces', 'container', 'gvisor', 'microvm'];

export interface DriverReport extends DriverAvailability {
  name: string;
  capabilities: DriverCapabilities;
}

export interface DriverNeeds {
  driver: string;
  network: NetworkMode;
  /** The job's own floor (its `isolation`): `auto` picks nothing weaker, a named driver must meet it. */
  isolation?: Isolation | undefined;
}

export interface DriverSetOptions {
  /**
   * The weakest isolation `auto` may pick. `auto` (the default) means the
   * strongest available at start-up for the job's network mode, so a driver
   * that fails later makes jobs wait for it (503) instead of landing on a
   * weaker boundary than the operator saw at start.
   */
  minIsolation: 'auto' | Isolation;
}

const rank = (isolation: Isolation) => ISOLATION_ORDER.indexOf(isolation);

/**
 * The drivers this runner knows, in one ordered list. Availability comes from
 * each driver's own probe only: a job failing inside a driver makes it probe
 * again, and only a failed probe takes it out of `auto` — one user's job can
 * never push everyone else onto a weaker driver.
 */
export class DriverSet {
  private reports = new Map<string, DriverReport>();
  private refreshing: Promise<DriverReport[]> | undefined;
  private readonly probing = new Map<string, Promise<void>>();
  /** Per network mode, the weakest isolation `auto` may use; fixed at the first detect. */
  private floor: Partial<Record<NetworkMode, Isolation>> | undefined;

  constructor(
    private readonly drivers: SandboxDriver[],
    private readonly opts: DriverSetOptions = { minIsolation: 'auto' },
  ) {}

  async detect(): Promise<DriverReport[]> {
    const reports = await Promise.all(this.drivers.map(async (d) => this.probe(d)));
    this.reports = new Map(reports.map((r) => [r.name, r]));
    this.floor ??= this.floorFromStart();
    return reports;
  }

  private async probe(d: SandboxDriver): Promise<DriverReport> {
    const availability = await d.detect().catch(
      (err: Error): DriverAvailability => ({ available: false, reason: `probe crashed: ${err.message}` }),
    );
    return { name: d.name, capabilities: d.capabilities, ...availability };
  }

  private floorFromStart(): Partial<Record<NetworkMode, Isolation>> {
    const floor: Partial<Record<NetworkMode, Isolation>> = {};
    for (const mode of ['none', 'egress'] as NetworkMode[]) {
      if (this.opts.minIsolation !== 'auto') {
        floor[mode] = this.opts.minIsolation;
        continue;
      }
      const best = this.drivers
        .filter((d) => this.reports.get(d.name)?.available && d.capabilities.network.includes(mode))
        .sort((a, b) => b.capabilities.strength - a.capabilities.strength)[0];
      if (best) floor[mode] = best.capabilities.isolation;
    }
    return floor;
  }

  /** The weakest isolation `auto` may pick, per network mode (for doctor and /health). */
  floors(): Partial<Record<NetworkMode, Isolation>> {
    return { ...this.floor };
  }

  /**
   * Probes again the drivers that were unavailable (say dockerd was down at
   * start-up), so they come into use once their host side is back.
   */
  refresh(): Promise<DriverReport[]> {
    // One probe round at a time, shared by whoever asks meanwhile.
    this.refreshing ??= this.probeUnavailable().finally(() => (this.refreshing = undefined));
    return this.refreshing;
  }

  private async probeUnavailable(): Promise<DriverReport[]> {
    const changed: DriverReport[] = [];
    for (const d of this.drivers) {
      if (this.reports.get(d.name)?.available) continue;
      const report = await this.probe(d);
      this.reports.set(d.name, report);
      if (report.available) {
        d.warm?.();
        changed.push(report);
      }
    }
    return changed;
  }

  /**
   * A job failed inside this driver. That alone says nothing about the driver
   * (the job may have caused it); its own probe decides. Resolves once the
   * probe is done; concurrent suspicions share one probe.
   */
  suspect(name: string): Promise<void> {
    const d = this.get(name);
    if (!d || !this.reports.get(name)?.available) return Promise.resolve();
    let probing = this.probing.get(name);
    if (!probing) {
      probing = this.probe(d)
        .then((report) => {
          if (!report.available) this.reports.set(name, report);
        })
        .finally(() => this.probing.delete(name));
      this.probing.set(name, probing);
    }
    return probing;
  }

  /** Start-up only: cleans up after a crashed predecessor, per driver. */
  async reapOrphans(): Promise<Record<string, number>> {
    const counts: Record<string, number> = {};
    for (const d of this.drivers) counts[d.name] = await d.reapOrphans().catch(() => 0);
    return counts;
  }

  /** Lets each available driver prepare ahead of jobs (warm pools). */
  warm(): void {
    for (const d of this.drivers) if (this.reports.get(d.name)?.available) d.warm?.();
  }

  async close(): Promise<void> {
    await Promise.all([...this.probing.values()]);
    await Promise.all(this.drivers.map((d) => d.close().catch(() => undefined)));
  }

  list(): DriverReport[] {
    return [...this.reports.values()];
  }

  isAvailable(name: string): boolean {
    return this.reports.get(name)?.available === true;
  }

  get(name: string): SandboxDriver | undefined {
    return this.drivers.find((d) => d.name === name);
  }

  /** Per network mode, the isolation of the driver `auto` picks now (absent: none would do). */
  best(): Partial<Record<NetworkMode, Isolation>> {
    const out: Partial<Record<NetworkMode, Isolation>> = {};
    for (const mode of ['none', 'egress'] as NetworkMode[]) {
      const floor = this.floor?.[mode];
      const best = this.drivers
        .filter((d) => this.reports.get(d.name)?.available === true && d.capabilities.network.includes(mode))
        .filter((d) => floor === undefined || rank(d.capabilities.isolation) >= rank(floor))
        .sort((a, b) => b.capabilities.strength - a.capabilities.strength)[0];
      if (best) out[mode] = best.capabilities.isolation;
    }
    return out;
  }

  select(needs: DriverNeeds): SandboxDriver {
    if (needs.driver !== 'auto') return this.named(needs);
    const runner = this.floor?.[needs.network];
    const floor = needs.isolation && (!runner || rank(needs.isolation) > rank(runner)) ? needs.isolation : runner;
    const candidates = this.drivers
      .filter((d) => d.capabilities.network.includes(needs.network))
      .filter((d) => floor === undefined || rank(d.capabilities.isolation) >= rank(floor));
    const best = candidates
      .filter((d) => this.reports.get(d.name)?.available === true)
      .sort((a, b) => b.capabilities.strength - a.capabilities.strength)[0];
    if (best) return best;
    const drivers = this.list().map((r) => ({ name: r.name, available: r.available, reason: r.reason }));
    const why = floor === runner ? ' (sandbox.min_isolation)' : " (the job's isolation)";
    const atLeast = floor ? ` at or above isolation "${floor}"${why}` : '';
    if (candidates.length === 0) {
      const asked = floor !== runner ? `${atLeast} ` : ' ';
      throw new PaddockError('driver_unavailable', `no driver here${asked}supports network "${needs.network}"`, { drivers });
    }
    // Drivers that would do exist but are down for now: a retry may succeed.
    throw new PaddockError(
      'driver_unavailable',
      `no driver${atLeast} for network "${needs.network}" is available right now`,
      { drivers, min_isolation: floor ?? null, retry_after_s: RETRY_AFTER_S },
      { status: 503 },
    );
  }

  private named(needs: DriverNeeds): SandboxDriver {
    const driver = this.get(needs.driver);
    if (!driver) {
      throw new PaddockError('driver_unavailable', `unknown driver "${needs.driver}"`, {
        driver: needs.driver,
        known: this.drivers.map((d) => d.name),
      });
    }
    if (!driver.capabilities.network.includes(needs.network)) {
      throw new PaddockError('driver_unavailable', `driver ${driver.name} does not support network "${needs.network}"`, {
        driver: driver.name,
        network: driver.capabilities.network,
      });
    }
    if (needs.isolation && rank(driver.capabilities.isolation) < rank(needs.isolation)) {
      throw new PaddockError(
        'validation_failed',
        `driver ${driver.name} isolates with ${driver.capabilities.isolation}, weaker than the isolation "${needs.isolation}" asked for`,
        { field: 'isolation', driver: driver.name, isolation: driver.capabilities.isolation },
      );
    }
    const report = this.reports.get(driver.name);
    if (!report?.available) {
      throw new PaddockError(
        'driver_unavailable',
        `driver ${driver.name} is not available here: ${report?.reason ?? 'not probed'}`,
        { driver: driver.name, retry_after_s: RETRY_AFTER_S },
        { status: 503 },
      );
    }
    return driver;
  }
}

/**
 * Refuses limits below what `driver` can start a sandbox with, naming its
 * measured minimum: otherwise the job's own limits would look like a broken driver.
 */
export function checkMinLimits(driver: SandboxDriver, limits: Limits): void {
  for (const [key, min] of Object.entries(driver.minLimits ?? {}) as [keyof Limits, number][]) {
    if (limits[key] < min) {
      throw new PaddockError(
        'limit_too_small',
        `limits.${key} = ${limits[key]} is below the ${min} that driver ${driver.name} needs to start a sandbox`,
        { field: `limits.${key}`, min, driver: driver.name },
      );
    }
  }
}
