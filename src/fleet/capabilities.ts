import type { DriverSet } from '../sandbox/registry.js';
import type { Logger } from '../util/log.js';
import { hostCaps, type Need } from './needs.js';

/** Images change rarely (a build, a removal): the directory is read again at most this often. */
const IMAGES_MAX_AGE_MS = 2000;

export interface CapabilitiesDeps {
  drivers: Pick<DriverSet, 'list' | 'best'>;
  labels: Record<string, string>;
  /** Image names built on this host. */
  listImages(): Promise<string[]>;
  log: Logger;
}

/**
 * What this host offers the jobs of a fleet, as needs it meets (src/fleet/needs.ts): what every
 * claim passes to the store and every heartbeat publishes. Drivers are read live; images from a
 * cache refreshed in the background once stale, so a claim never waits on the disk.
 */
export class HostCapabilities {
  private imageNames: string[] = [];
  private readAt = 0;
  private reading: Promise<string[]> | undefined;

  constructor(private readonly deps: CapabilitiesDeps) {}

  get images(): string[] {
    return this.imageNames;
  }

  /** Reads the images again (one read at a time); a failed read keeps the last list. */
  refreshImages(): Promise<string[]> {
    this.reading ??= this.deps
      .listImages()
      .then((names) => (this.imageNames = names))
      .catch((err: unknown) => {
        this.deps.log.warn({ err }, 'listing images failed; keeping the last list');
        return this.imageNames;
      })
      .finally(() => {
        this.readAt = Date.now();
        this.reading = undefined;
      });
    return this.reading;
  }

  /** A submit here just found `image` on disk: claim its jobs without waiting for the next read. */
  noteImage(image: string): void {
    if (!this.imageNames.includes(image)) this.imageNames = [...this.imageNames, image].sort();
  }

  /** The needs this host meets now. */
  list(): Need[] {
    if (Date.now() - this.readAt > IMAGES_MAX_AGE_MS) void this.refreshImages();
    const { drivers, labels } = this.deps;
    return hostCaps({
      drivers: drivers.list().filter((d) => d.available).map((d) => d.name),
      best: drivers.best(),
      images: this.imageNames,
      labels,
    });
  }

  /** Whether any driver is up here: a host without one claims nothing (it would only fail jobs). */
  canRun(): boolean {
    return this.deps.drivers.list().some((d) => d.available);
  }
}
