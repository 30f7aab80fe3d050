import type { Config } from '../config/schema.js';
import type { EventBus } from '../jobs/event-bus.js';
import type { Scheduler } from '../jobs/scheduler.js';
import type { DriverSet } from '../sandbox/registry.js';
import { isPostgresUrl } from '../store/dialect.js';
import type { Store } from '../store/store.js';
import type { Logger } from '../util/log.js';
import type { HostCapabilities } from './capabilities.js';
import { HostRegistry } from './registry.js';
import { RemoteEvents } from './remote-events.js';
import { JobWakeup } from './wakeup.js';

export interface Fleet {
  /** This host's row in the store's host registry (GET /v1/hosts), and the others'. */
  hosts: HostRegistry;
  /** Others see this host leave: draining while its jobs end (call before stopping the scheduler). */
  drain(): Promise<void>;
  /** Marks it stopped and lets go of the LISTEN connection (before the store closes). */
  stop(): Promise<void>;
}

/**
 * This host's part in a fleet: its registry row and heartbeat, and — on PostgreSQL — hearing what
 * other hosts do (a job queued: claim; an event stored for a job followed here: pass it on). On
 * SQLite only the registry runs: one host, nothing to hear.
 */
export async function startFleet(deps: {
  config: Config;
  store: Store;
  bus: EventBus;
  drivers: DriverSet;
  caps: HostCapabilities;
  scheduler: Scheduler;
  log: Logger;
}): Promise<Fleet> {
  const { config, store, bus, scheduler } = deps;
  const log = deps.log.child({ component: 'fleet' });
  const remoteEvents = new RemoteEvents({ store, bus, log, isLocal: (id) => scheduler.isRunning(id) });
  const wakeup = isPostgresUrl(config.store_url)
    ? new JobWakeup({
        url: config.store_url,
        listen: config.fleet.listen,
        pollMs: config.fleet.poll_ms,
        log,
        wake: () => scheduler.wake(),
        onEvent: (payload) => remoteEvents.notice(payload),
      })
    : undefined;
  wakeup?.start();
  const hosts = new HostRegistry({
    store,
    config,
    drivers: deps.drivers,
    log,
    running: () => scheduler.runningCount,
    caps: deps.caps,
  });
  await hosts.start();
  return {
    hosts,
    drain: () => hosts.drain(),
    async stop() {
      await wakeup?.close();
      await hosts.stop();
    },
  };
}
