import type { Config } from '../config/schema.js';
import { PaddockError } from '../errors.js';
import { recordHostLost } from '../sandboxes/recovery.js';
import { isPostgresUrl } from '../store/dialect.js';
import type { HostRow, Store } from '../store/store.js';
import type { Logger } from '../util/log.js';
import { hostHealth } from './registry.js';

/** Owners looked up lately, so the execs and file calls of one sandbox cost one lookup a while. */
const CACHE_MS = 5000;
const CACHE_MAX = 1000;

export interface OwnerDeps {
  store: Pick<Store, 'getSandbox' | 'getHost' | 'listHosts' | 'listLiveSandboxes' | 'updateSandbox'>;
  config: Config;
  /** Whether this host holds sandbox `id` now. */
  isLocal(id: string): boolean;
  log: Logger;
}

/**
 * Where a request for an interactive sandbox must go: a sandbox lives in the memory of one host,
 * so a request that reaches another host is forwarded to the owner's advertised address
 * (src/server/host-proxy.ts). A lost owner's sandboxes are recorded `host_lost`, and the request is
 * answered here from the record. On SQLite (one host) nothing is ever forwarded.
 */
export class SandboxOwners {
  private readonly cache = new Map<string, { address: string; at: number }>();
  /** Whether this host is one of a fleet (PostgreSQL): else nothing is ever forwarded. */
  readonly fleet: boolean;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly deps: OwnerDeps) {
    this.fleet = isPostgresUrl(deps.config.store_url);
  }

  /** The base URL to forward to, or undefined: this host answers (its own, gone, or unknown). */
  async ownerOf(id: string): Promise<string | undefined> {
    if (!this.fleet || this.deps.isLocal(id)) return undefined;
    const hit = this.cache.get(id);
    if (hit && Date.now() - hit.at < CACHE_MS) return hit.address;
    const { store, config } = this.deps;
    const row = await store.getSandbox(id);
    if (!row || row.state === 'destroyed' || row.host_id === config.host_id) return undefined;
    const host = await store.getHost(row.host_id);
    const health = host ? hostHealth(host, Date.now(), config.fleet.host_timeout_ms) : 'lost';
    if (health === 'lost' || health === 'stopped') {
      await recordHostLost(store, row.host_id, this.deps.log);
      return undefined;
    }
    if (!host?.address) {
      throw new PaddockError('unreachable', `sandbox ${id} lives on host ${row.host_id}, which has no fleet.advertise_url: use that host`, {
        host: row.host_id,
        retry_after_s: 0,
      });
    }
    if (this.cache.size >= CACHE_MAX) this.cache.delete(this.cache.keys().next().value!);
    this.cache.set(id, { address: host.address, at: Date.now() });
    return host.address;
  }

  /** A forward failed: look the owner up afresh next time (it may have been lost). */
  forget(id: string): void {
    this.cache.delete(id);
  }

  /**
   * Where a new sandbox goes: here if other hosts can reach this one (or there are no others);
   * else the reachable host that is up with the most free job slots, so every host can serve it.
   */
  async placeNew(): Promise<string | undefined> {
    const { store, config } = this.deps;
    if (!this.fleet || config.fleet.advertise_url !== '') return undefined;
    const now = Date.now();
    const free = (h: HostRow) => h.capacity - h.running;
    const best = (await store.listHosts())
      .filter((h) => h.id !== config.host_id && h.reachable && h.address && hostHealth(h, now, config.fleet.host_timeout_ms) === 'up')
      .sort((a, b) => free(b) - free(a))[0];
    return best?.address ?? undefined;
  }

  /** Sweeps for lost hosts' sandboxes every fleet.host_timeout_ms (PostgreSQL only). */
  start(): void {
    if (!this.fleet) return;
    this.timer = setInterval(() => {
      this.sweepLost().catch((err: unknown) => this.deps.log.warn({ err }, 'recording lost hosts\' sandboxes failed'));
    }, this.deps.config.fleet.host_timeout_ms);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** Records the sandboxes of hosts that went silent as `host_lost` (a periodic sweep on every host). */
  async sweepLost(): Promise<void> {
    const { store, config, log } = this.deps;
    if (!this.fleet) return;
    const now = Date.now();
    for (const h of await store.listHosts()) {
      if (h.id !== config.host_id && hostHealth(h, now, config.fleet.host_timeout_ms) === 'lost') await recordHostLost(store, h.id, log);
    }
  }
}
