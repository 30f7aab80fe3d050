import type { Config } from '../config/schema.js';
import type { DriverSet } from '../sandbox/registry.js';
import type { HostDriver, HostRow, HostState, Store } from '../store/store.js';
import { isStorageFull } from '../store/storage-full.js';
import type { Logger } from '../util/log.js';
import type { HostCapabilities } from './capabilities.js';
import { VERSION } from '../version.js';

/** What a host is as others see it: its own state, or `lost` when its heartbeat is stale. */
export type HostHealth = HostState | 'lost';

export interface HostView extends HostRow {
  health: HostHealth;
  /** Milliseconds since its last heartbeat, as this host's clock sees it. */
  heartbeat_age_ms: number;
}

export function hostHealth(row: Pick<HostRow, 'state' | 'heartbeat_at'>, now: number, timeoutMs: number): HostHealth {
  if (row.state === 'stopped') return 'stopped';
  return now - Date.parse(row.heartbeat_at) > timeoutMs ? 'lost' : row.state;
}

export interface RegistryDeps {
  store: Pick<Store, 'registerHost' | 'heartbeatHost' | 'listHosts'>;
  config: Config;
  drivers: Pick<DriverSet, 'list'>;
  log: Logger;
  /** Jobs this host runs now. */
  running(): number;
  /** What it offers jobs, and its images (src/fleet/capabilities.ts). */
  caps: Pick<HostCapabilities, 'images' | 'list' | 'refreshImages'>;
}

/**
 * This host's row in the fleet's registry: written at start, refreshed by a heartbeat (the time,
 * the load, what changed), `draining` while it stops, `stopped` once it has. A failed heartbeat
 * (the database away) is logged and tried again next beat; it never stops the host.
 */
export class HostRegistry {
  private timer: NodeJS.Timeout | undefined;
  private state: HostState = 'up';
  private closed = false;
  private lastError: string | undefined;
  /** What the row says now (JSON), so a beat writes images and caps only when they changed. */
  private sent = { images: '', caps: '' };

  constructor(private readonly deps: RegistryDeps) {}

  private drivers(): HostDriver[] {
    return this.deps.drivers.list().map((d) => ({ name: d.name, available: d.available, isolation: d.capabilities.isolation }));
  }

  /** Registers and starts beating. On a full disk it starts anyway: a later beat registers it. */
  async start(): Promise<void> {
    try {
      await this.register();
    } catch (err) {
      if (!isStorageFull(err)) throw err;
      this.deps.log.warn('disk full: this host registers in the store once there is room');
    }
    this.schedule();
  }

  private async register(): Promise<void> {
    const { config, store, caps } = this.deps;
    const images = await caps.refreshImages();
    const offered = caps.list();
    this.sent = { images: JSON.stringify(images), caps: JSON.stringify(offered) };
    await store.registerHost({
      id: config.host_id,
      address: config.fleet.advertise_url || null,
      version: VERSION,
      state: 'up',
      drivers: this.drivers(),
      labels: config.fleet.labels,
      images,
      caps: offered,
      capacity: config.max_concurrent_jobs,
      running: this.deps.running(),
      // Said by its own configuration for now; other hosts do not probe it (yet).
      reachable: config.fleet.advertise_url !== '',
    });
  }

  /** The problem /health reports while heartbeats fail, else undefined. */
  problem(): string | undefined {
    return this.lastError && `store_unavailable: heartbeat failed (${this.lastError})`;
  }

  /** Stopping: other hosts see it draining (it claims no more) until stop() marks it stopped. */
  async drain(): Promise<void> {
    this.state = 'draining';
    await this.beat();
  }

  async stop(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    this.state = 'stopped';
    await this.beat();
  }

  async list(): Promise<HostView[]> {
    const now = Date.now();
    return (await this.deps.store.listHosts()).map((row) => ({
      ...row,
      health: hostHealth(row, now, this.deps.config.fleet.host_timeout_ms),
      heartbeat_age_ms: Math.max(0, now - Date.parse(row.heartbeat_at)),
    }));
  }

  private schedule(): void {
    if (this.closed) return;
    this.timer = setTimeout(() => void this.beat().finally(() => this.schedule()), this.deps.config.fleet.heartbeat_ms);
    this.timer.unref();
  }

  private async beat(): Promise<void> {
    const { store, config, log } = this.deps;
    try {
      const images = this.deps.caps.images;
      const caps = this.deps.caps.list();
      const changed = { images: JSON.stringify(images), caps: JSON.stringify(caps) };
      const beat = {
        state: this.state,
        running: this.deps.running(),
        drivers: this.drivers(),
        ...(changed.images !== this.sent.images ? { images } : {}),
        ...(changed.caps !== this.sent.caps ? { caps } : {}),
      };
      // Gone (an operator removed the row): register again, as at start.
      if (await store.heartbeatHost(config.host_id, beat)) this.sent = changed;
      else if (!this.closed) await this.register();
      if (this.lastError) log.info('host heartbeat works again');
      this.lastError = undefined;
    } catch (err) {
      // The storage guard reports a full disk (and /health says so); this is only about reaching the store.
      if (isStorageFull(err)) return;
      const message = err instanceof Error ? err.message : String(err);
      if (!this.lastError) log.warn({ err: message }, 'host heartbeat failed; trying again next beat');
      this.lastError = message;
    }
  }
}
