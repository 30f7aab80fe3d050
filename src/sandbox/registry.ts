import { PaddockError } from '../errors.js';
import type { DriverAvailability, DriverCapabilities, NetworkMode, SandboxDriver } from './driver.js';

const RECHECK_AFTER_FAILURE_MS = 1000;

export interface DriverReport extends DriverAvailability {
  name: string;
  capabilities: DriverCapabilities;
}

export interface DriverNeeds {
  driver: string;
  network: NetworkMode;
}

/**
 * The drivers this runner knows, in one ordered list. Availability is probed
 * once (`detect`) and `select` picks the strongest available driver that fits
 * a job, or explains why none does.
 */
export class DriverSet {
  private reports = new Map<string, DriverReport>();
  private refreshing: Promise<DriverReport[]> | undefined;

  constructor(private readonly drivers: SandboxDriver[]) {}

  async detect(): Promise<DriverReport[]> {
    const reports = await Promise.all(
      this.drivers.map(async (d) => {
        const availability = await d.detect().catch(
          (err: Error): DriverAvailability => ({ available: false, reason: `probe crashed: ${err.message}` }),
        );
        return { name: d.name, capabilities: d.capabilities, ...availability };
      }),
    );
    this.reports = new Map(reports.map((r) => [r.name, r]));
    return reports;
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
      const before = this.reports.get(d.name);
      if (before?.available) continue;
      const availability = await d.detect().catch(
        (err: Error): DriverAvailability => ({ available: false, reason: `probe crashed: ${err.message}` }),
      );
      const report = { name: d.name, capabilities: d.capabilities, ...availability };
      this.reports.set(d.name, report);
      if (report.available) {
        d.warm?.();
        changed.push(report);
      }
    }
    return changed;
  }

  /**
   * A job just failed inside this driver (e.g. dockerd went away): take it out
   * of `auto` selection until `refresh` finds it working again.
   */
  markFailed(name: string, reason: string): void {
    const report = this.reports.get(name);
    if (!report?.available) return;
    this.reports.set(name, { ...report, available: false, reason });
    // Probe again soon: a passing failure should not keep the driver out for long.
    setTimeout(() => void this.refresh().catch(() => undefined), RECHECK_AFTER_FAILURE_MS).unref();
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
    await Promise.all(this.drivers.map((d) => d.close().catch(() => undefined)));
  }

  list(): DriverReport[] {
    return [...this.reports.values()];
  }

  get(name: string): SandboxDriver | undefined {
    return this.drivers.find((d) => d.name === name);
  }

  select(needs: DriverNeeds): SandboxDriver {
    const fits = (d: SandboxDriver) => d.capabilities.network.includes(needs.network);
    const available = (d: SandboxDriver) => this.reports.get(d.name)?.available === true;
    if (needs.driver !== 'auto') {
      const driver = this.get(needs.driver);
      if (!driver) {
        throw new PaddockError('driver_unavailable', `unknown driver "${needs.driver}"`, {
          driver: needs.driver,
          known: this.drivers.map((d) => d.name),
        });
      }
      if (!available(driver)) {
        const why = this.reports.get(driver.name)?.reason ?? 'not probed';
        throw new PaddockError('driver_unavailable', `driver ${driver.name} is not available here: ${why}`, {
          driver: driver.name,
        });
      }
      if (!fits(driver)) {
        throw new PaddockError('driver_unavailable', `driver ${driver.name} does not support network "${needs.network}"`, {
          driver: driver.name,
          network: driver.capabilities.network,
        });
      }
      return driver;
    }
    const best = this.drivers
      .filter((d) => available(d) && fits(d))
      .sort((a, b) => b.capabilities.strength - a.capabilities.strength)[0];
    if (!best) {
      throw new PaddockError('driver_unavailable', `no available driver supports network "${needs.network}"`, {
        drivers: this.list().map((r) => ({ name: r.name, available: r.available, reason: r.reason })),
      });
    }
    return best;
  }
}
