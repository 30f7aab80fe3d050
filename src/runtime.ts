import { actionsKind } from './actions/kind.js';
import { ActionsIntake } from './actions/intake.js';
import { isTerminal } from './jobs/states.js';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { ensureAdminToken } from './auth/admin-token.js';
import type { Config } from './config/schema.js';
import { Admission } from './jobs/admission.js';
import { CallbackDispatcher } from './jobs/callbacks/dispatcher.js';
import { EventBus } from './jobs/event-bus.js';
import { Scheduler } from './jobs/scheduler.js';
import { jobKinds } from './jobs/kinds.js';
import type { ArtifactStore } from './agents/artifacts.js';
import { type Agents, startAgents } from './agents/runtime.js';
import { LanguageHealth } from './judge/health.js';
import { judgeKind } from './judge/kind.js';
import { smokeProbe } from './judge/smoke.js';
import { OAuthAuth } from './agents/oauth/oauth-auth.js';
import type { HostRegistry } from './fleet/registry.js';
import { startFleet } from './fleet/index.js';
import { HostCapabilities } from './fleet/capabilities.js';
import { listImages } from './images/catalog.js';
import { fleetPlacement } from './fleet/placement.js';
import { SandboxOwners } from './fleet/sandbox-owner.js';
import { Metrics } from './metrics.js';
import { allDrivers } from './sandbox/all-drivers.js';
import type { SandboxDriver } from './sandbox/driver.js';
import { DriverSet } from './sandbox/registry.js';
import { SandboxService } from './sandboxes/service.js';
import { SandboxSnapshots } from './sandboxes/snapshots.js';
import { StorageGuard } from './storage/guard.js';
import { Retention } from './storage/retention.js';
import { isStorageFull } from './store/storage-full.js';
import { openStore, type Store } from './store/store.js';
import type { Logger } from './util/log.js';

/** How often drivers that were unavailable are probed again. */
const DRIVER_REFRESH_MS = 15_000;
/** At stop, how long queued job callbacks (the jobs' last states among them) may still go out. */
const CALLBACK_DRAIN_MS = 2000;

export interface Runtime {
  config: Config;
  store: Store;
  drivers: DriverSet;
  scheduler: Scheduler;
  /** Persistent sandboxes (POST /v1/sandboxes). */
  sandboxes: SandboxService;
  /** Snapshots (of files, or of memory on qemu) and forks of persistent sandboxes. */
  snapshots: SandboxSnapshots;
  /** Queue caps, per-token quotas and per-token stream places (`openStream`). */
  admission: Admission;
  /** Free-space floor and full-disk state of the store's disk (507 storage_full, /health). */
  storage: StorageGuard;
  /** Pruning of finished jobs (retention.*). */
  retention: Retention;
  bus: EventBus;
  /** Status callbacks of jobs with a `callback_url`. */
  callbacks: CallbackDispatcher;
  /** Agent jobs' artifacts, repository cache, model proxy and GitHub (src/agents/runtime.ts). */
  agents: Agents;
  /** The subscription login (Claude Code's credentials file) the model proxy uses without an API key. */
  oauth: OAuthAuth;
  /** Judge languages and whether their smoke tests pass (src/judge/). */
  judge: LanguageHealth;
  /** This host's row in the store's host registry (GET /v1/hosts), and the others'. */
  hosts: HostRegistry;
  /** Which host holds a sandbox, for requests that reach another (src/server/host-proxy.ts). */
  sandboxOwners: SandboxOwners;
  /** Queued GitHub workflow jobs, by webhook or polling, as `actions` jobs in the pools (src/actions/). */
  actions: ActionsIntake;
  artifacts: ArtifactStore;
  metrics: Metrics;
  log: Logger;
  startedAt: number;
  /** Set when this start created the first admin token. */
  adminTokenFile: string | undefined;
  close(): Promise<void>;
}

/** Opens the store, probes drivers, recovers stale jobs and starts scheduling. */
/** `drivers` replaces the configured drivers (tests give a fake one). */
export async function startRuntime(
  config: Config,
  log: Logger,
  opts: { drivers?: SandboxDriver[] } = {},
): Promise<Runtime> {
  await mkdir(config.data_dir, { recursive: true, mode: 0o711 });
  // Before anything is opened: a bad agents.oauth.token_url fails the start with nothing to undo.
  const oauth = OAuthAuth.fromConfig(config, log.child({ component: 'oauth' }));
  const storage = new StorageGuard(storeDir(config), config, log);
  const storeLog = log.child({ component: 'store' });
  const store = await openStore(config.store_url, {
    onPoolError: (err) => storeLog.warn({ err: err.message }, 'a store connection failed; the next query opens a new one'),
  });
  store.onStorageFull(storage.noteFull);
  storage.start();
  const drivers = new DriverSet(opts.drivers ?? allDrivers(config, log), { minIsolation: config.sandbox.min_isolation });
  const reaped = await drivers.reapOrphans();
  if (Object.values(reaped).some((n) => n > 0)) log.warn({ reaped }, 'removed sandboxes left by a previous process');
  const reports = await drivers.detect();
  for (const r of reports) log.info({ driver: r.name, available: r.available, reason: r.reason }, 'sandbox driver');
  drivers.warm();
  const bus = new EventBus();
  const metrics = new Metrics();
  const admission = new Admission(config, store);
  // Listening before the scheduler starts, so the states recovery moves jobs to are reported too.
  const callbacks = new CallbackDispatcher({ config: config.callbacks, store, bus, log: log.child({ component: 'callbacks' }), metrics });
  callbacks.start();
  // Kept fresh only where it is the credential in use: an API key makes the proxy ignore it.
  if (config.agents.model_api.api_key === '') oauth.start();
  const agents = startAgents(config, log, oauth);
  const judge = new LanguageHealth(
    smokeProbe(config, () => drivers.select({ driver: 'auto', network: 'none' })),
    log.child({ component: 'judge' }),
  );
  if (config.judge.smoke) judge.start(config.judge.smoke_interval_ms);
  const caps = new HostCapabilities({
    drivers,
    labels: config.fleet.labels,
    listImages: async () => (await listImages(config.images_dir)).map((i) => i.name),
    log,
  });
  await caps.refreshImages();
  const scheduler = new Scheduler({
    caps,
    placement: fleetPlacement(store, config),
    kinds: jobKinds([agents.kind, judgeKind({ config, health: judge }), actionsKind({ config, log: log.child({ component: 'actions' }), metrics })]),
    admission,
    config,
    store,
    drivers,
    bus,
    log,
    metrics,
    recoverAllRunning: config.store_url.startsWith('sqlite:'),
    callbacks,
  });
  let adminTokenFile: string | undefined;
  const adminToken = async () => (adminTokenFile = await ensureAdminToken(store, config.data_dir));
  // A first start on a full disk cannot store the admin token yet: it is made once there is room.
  let tokenPending = await adminToken().then(
    () => false,
    (err) => {
      if (!isStorageFull(err)) throw err;
      log.error('disk full: the admin token will be created once there is room');
      return true;
    },
  );
  await scheduler.start();
  const fleet = await startFleet({ config, store, bus, drivers, caps, scheduler, log });
  const sandboxes = new SandboxService({
    config,
    store,
    drivers,
    log: log.child({ component: 'sandboxes' }),
    stopSignal: scheduler.stopSignal,
  });
  await sandboxes.start();
  const sandboxOwners = new SandboxOwners({ store, config, isLocal: (id) => sandboxes.liveById(id) !== undefined, log: log.child({ component: 'fleet' }) });
  sandboxOwners.start();
  const snapshots = new SandboxSnapshots({ config, store, sandboxes, drivers, log: log.child({ component: 'snapshots' }) });
  storage.onRecovered(() => {
    scheduler.resumeAfterStorage();
    // A driver probe may have failed for want of space (it writes files).
    void drivers.refresh().catch((err) => log.warn({ err }, 'probing drivers failed'));
    if (tokenPending) {
      tokenPending = false;
      void adminToken().catch((err) => {
        tokenPending = true;
        log.error({ err }, 'creating the admin token failed');
      });
    }
  });
  const actions = new ActionsIntake({
    config,
    submit: async (spec, key) => {
      const { row, created } = await scheduler.submit(spec, { tokenId: null, idempotencyKey: key });
      return { id: row.id, created };
    },
    onJobEnded: (listener) =>
      bus.subscribeAll((jobId, e) => {
        if (e.type === 'state' && isTerminal((e.data as { state: string }).state)) listener(jobId);
      }),
    log: log.child({ component: 'actions' }),
    metrics,
  });
  // The pools' jobs still queued or running (a restart) count against their max again.
  for (const state of ['queued', 'running'] as const) {
    const { rows } = await store.listJobs({ kind: 'actions', state, limit: 500 });
    actions.adopt(rows.map((r) => ({ id: r.id, pool: (JSON.parse(r.labels ?? '{}') as Record<string, string>)['actions.pool'] ?? '' })));
  }
  actions.start();
  const retention = new Retention(store, config, log, (ids) => agents.artifacts.remove(ids));
  retention.start();
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
    sandboxes,
    snapshots,
    admission,
    storage,
    retention,
    bus,
    callbacks,
    metrics,
    log,
    startedAt: Date.now(),
    adminTokenFile,
    agents,
    oauth,
    artifacts: agents.artifacts,
    judge,
    hosts: fleet.hosts,
    sandboxOwners,
    actions,
    async close() {
      clearInterval(refresher);
      actions.stop();
      sandboxOwners.stop();
      await fleet.drain();
      judge.stop();
      storage.stop();
      retention.stop();
      await scheduler.stop();
      await callbacks.stop(Math.min(CALLBACK_DRAIN_MS, config.callbacks.timeout_ms));
      await agents.close();
      oauth.close();
      snapshots.close();
      await sandboxes.stop();
      await retention.idle();
      await drivers.close();
      await fleet.stop();
      await store.close();
    },
  };
}

/** The directory whose disk holds the store: the SQLite file's, else the data dir. */
function storeDir(config: Config): string {
  const file = config.store_url.startsWith('sqlite:') ? config.store_url.slice('sqlite:'.length) : '';
  return file && file !== ':memory:' ? path.dirname(path.resolve(file)) : config.data_dir;
}
