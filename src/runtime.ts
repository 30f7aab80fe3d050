import { mkdir } from 'node:fs/promises';
import { ensureAdminToken } from './auth/admin-token.js';
import type { Config } from './config/schema.js';
import { EventBus } from './jobs/event-bus.js';
import { Scheduler } from './jobs/scheduler.js';
import { Metrics } from './metrics.js';
import { BwrapDriver } from './sandbox/bwrap/driver.js';
import { DockerDriver } from './sandbox/docker/driver.js';
import type { SandboxDriver } from './sandbox/driver.js';
import { DriverSet } from './sandbox/registry.js';
import { openStore, type Store } from './store/store.js';
import type { Logger } from './util/log.js';

/** How often drivers that were unavailable are probed again. */
const DRIVER_REFRESH_MS = 15_000;

export interface Runtime {
  config: Config;
  store: Store;
  drivers: DriverSet;
  scheduler: Scheduler;
  bus: EventBus;
  metrics: Metrics;
  log: Logger;
  startedAt: number;
  /** Set when this start created the first admin token. */
  adminTokenFile: string | undefined;
  close(): Promise<void>;
}

/** Every sandbox driver this build knows; `auto` ranks them by capabilities.strength. */
export function allDrivers(config: Config, log: Logger): SandboxDriver[] {
  const all: Record<Config['drivers'][number], () => SandboxDriver> = {
    gvisor: () => new DockerDriver(config, { name: 'gvisor', runtime: 'runsc', log }),
    docker: () => new DockerDriver(config, { name: 'docker', runtime: 'runc', log }),
    bwrap: () => new BwrapDriver(config),
  };
  return config.drivers.map((name) => all[name]());
}

/** Opens the store, probes drivers, recovers stale jobs and starts scheduling. */
export async function startRuntime(config: Config, log: Logger): Promise<Runtime> {
  await mkdir(config.data_dir, { recursive: true, mode: 0o711 });
  const store = await openStore(config.store_url);
  const drivers = new DriverSet(allDrivers(config, log), { minIsolation: config.sandbox.min_isolation });
  const reaped = await drivers.reapOrphans();
  if (Object.values(reaped).some((n) => n > 0)) log.warn({ reaped }, 'removed sandboxes left by a previous process');
  const reports = await drivers.detect();
  for (const r of reports) log.info({ driver: r.name, available: r.available, reason: r.reason }, 'sandbox driver');
  drivers.warm();
  const bus = new EventBus();
  const metrics = new Metrics();
  const scheduler = new Scheduler({
    config,
    store,
    drivers,
    bus,
    log,
    metrics,
    recoverAllRunning: config.store_url.startsWith('sqlite:'),
  });
  const adminTokenFile = await ensureAdminToken(store, config.data_dir);
  await scheduler.start();
  const refresher = setInterval(() => {
    drivers
      .refresh()
      .then((back) => back.forEach((r) => log.info({ driver: r.name }, 'sandbox driver became available')))
      .catch((err) => log.warn({ err }, 'probing drivers failed'));
  }, DRIVER_REFRESH_MS);
  refresher.unref();
  return {
    config,
    store,
    drivers,
    scheduler,
    bus,
    metrics,
    log,
    startedAt: Date.now(),
    adminTokenFile,
    async close() {
      clearInterval(refresher);
      await scheduler.stop();
      await drivers.close();
      await store.close();
    },
  };
}
