import type { Principal } from '../auth/tokens.js';
import type { Config } from '../config/schema.js';
import { PaddockError } from '../errors.js';
import { resolveLimits } from '../jobs/limits.js';
import type { AgentClient } from '../sandbox/agent/agent-client.js';
import type { Sandbox, SandboxDriver, SandboxSpec } from '../sandbox/driver.js';
import { networkAllow, networkMode } from '../sandbox/egress/job-network.js';
import { checkMinLimits, type DriverSet } from '../sandbox/registry.js';
import type { SandboxFilter, SandboxRow, Store, StoredQuotas } from '../store/store.js';
import { newId } from '../util/ids.js';
import { newRecord } from './record.js';
import type { Logger } from '../util/log.js';
import { admitSandbox, boundedLifetime } from './admission.js';
import { SandboxPruner } from './prune.js';
import { type Controlled, pauseSandbox, resumeSandbox, setIdleTimeout } from './controls.js';
import { selectPersistentDriver } from './driver-choice.js';
import { SandboxEvents } from './events.js';
import { PreviewTokens } from './preview-tokens.js';
import { recordRestarted } from './recovery.js';
import { recordUse } from './use-record.js';
import { endSandbox } from './end.js';
import type { ExecRun } from './exec-run.js';
import { LiveSandbox, owns } from './live.js';
import type { SandboxCreate, SandboxReason } from './spec.js';

export interface SandboxServiceDeps {
  config: Config;
  store: Store;
  drivers: DriverSet;
  log: Logger;
  /** Aborted when the runner begins to stop: sandboxes end then, so their open streams end before the server closes. */
  stopSignal?: AbortSignal;
}

/** Who a new sandbox is charged to. */
export interface SandboxTenant {
  tokenId: string | null;
  /** The token record's quotas (`max_sandboxes`; null = the config's). */
  quotas?: Partial<StoredQuotas> | undefined;
}

/**
 * Persistent sandboxes on this runner: creates them through a driver, keeps
 * their handles in memory (a sandbox cannot outlive the process that holds its
 * agent connection), records every state change in the store, and ends them —
 * on DELETE, past their idle TTL or lifetime (the sweeper), when their agent or
 * container dies, and when the runner stops.
 *
 * Restarts: a sandbox the store says is live on this host when the runner starts
 * was held by a process that is gone. Its container or processes were removed by
 * the drivers' reapOrphans, and no agent connection survives a restart, so it is
 * recorded `destroyed` with reason `runner_restarted` instead of being
 * reattached. Stopping the runner destroys every sandbox (`runner_stopped`).
 */
export class SandboxService {
  readonly events = new SandboxEvents();
  /** Per-sandbox preview credentials (src/server/routes/sandboxes/previews.ts); they end with their sandbox. */
  readonly previewTokens = new PreviewTokens(this.events);
  private readonly live = new Map<string, LiveSandbox>();
  /** Creations past admission, not yet live: they count against the caps. */
  private readonly creating = new Map<Promise<unknown>, string | null>();
  private stopping = false;
  private stopped: Promise<void> | undefined;
  private sweeper: NodeJS.Timeout | undefined;
  private readonly pruner: SandboxPruner;

  constructor(private readonly deps: SandboxServiceDeps) {
    this.pruner = new SandboxPruner(deps.store, deps.config, deps.log);
  }

  private get config() {
    return this.deps.config.sandboxes;
  }

  /** Records what a previous process left as `runner_restarted`, then starts the sweeper. */
  async start(): Promise<void> {
    await recordRestarted(this.deps.store, this.deps.config.host_id, this.deps.log);
    this.sweeper = setInterval(() => this.sweep(), this.config.sweep_ms);
    this.sweeper.unref();
    this.deps.stopSignal?.addEventListener('abort', () => void this.stop(), { once: true });
  }

  /** Ends every sandbox (reason `runner_stopped`); creations in flight are waited for and ended too. */
  stop(): Promise<void> {
    this.stopping = true;
    clearInterval(this.sweeper);
    this.stopped ??= (async () => {
      await Promise.allSettled([...this.creating.keys()]);
      await Promise.all([...this.live.values()].map((l) => this.end(l, 'runner_stopped', 'the runner stopped')));
    })();
    return this.stopped;
  }

  get isStopping(): boolean {
    return this.stopping;
  }

  get liveCount(): number {
    return this.live.size;
  }

  /**
   * `prepare` runs on the new sandbox's agent before it is recorded or handed out (a snapshot's
   * files); `restore` starts it from a memory snapshot's dir instead (the driver's restore).
   */
  async create(
    req: SandboxCreate,
    tenant: SandboxTenant,
    opts: { prepare?: (agent: AgentClient) => Promise<void>; restore?: string } = {},
  ): Promise<SandboxRow> {
    if (this.stopping) throw new PaddockError('shutting_down', 'runner is shutting down; not creating sandboxes');
    const { config, drivers } = this.deps;
    const limits = resolveLimits(req.limits, config);
    const network = networkMode(req.network);
    const driver = selectPersistentDriver(drivers, { driver: req.driver, network });
    checkMinLimits(driver, limits);
    const image = req.image ?? (driver.capabilities.images ? config.docker.default_image : undefined);
    if (req.image) await driver.checkImage(req.image);
    const maxLifetime = boundedLifetime(this.deps.config, 'max_lifetime_ms', req.max_lifetime_ms ?? this.config.max_lifetime_ms);
    const timeout = boundedLifetime(this.deps.config, 'timeout_ms', req.timeout_ms ?? this.config.default_timeout_ms);

    // No await between the cap checks and taking the place: concurrent creates cannot overshoot.
    admitSandbox(this.deps.config, this.live, this.creating, tenant);
    const id = newId('sbx');
    const creation = (async () => {
      const sandbox = await this.created(driver, {
        id,
        image: req.image,
        network,
        egressAllow: networkAllow(req.network),
        limits,
        files: [],
      }, opts.restore);
      try {
        if (opts.prepare) await opts.prepare(sandbox.agent);
        if (this.stopping) throw new PaddockError('shutting_down', 'runner is shutting down; not creating sandboxes');
        const row = await this.deps.store.insertSandbox(
          newRecord({ id, tokenId: tenant.tokenId, driver: driver.name, image, req, limits, timeout, maxLifetime, hostId: config.host_id }),
        );
        const live = new LiveSandbox(row, sandbox, sandbox.agent);
        this.live.set(id, live);
        this.watch(live, sandbox.agent, sandbox.died);
        this.events.publish(id, 'created', { driver: driver.name });
        this.deps.log.info({ sandboxId: id, driver: driver.name }, 'sandbox created');
        return row;
      } catch (err) {
        await sandbox.destroy().catch(() => undefined);
        throw err;
      }
    })();
    this.creating.set(creation, tenant.tokenId);
    try {
      return await creation;
    } finally {
      this.creating.delete(creation);
    }
  }

  /** As for jobs: a sandbox failing to start makes its driver probe itself (only a failed probe takes it out of `auto`). */
  private async created(driver: SandboxDriver, spec: SandboxSpec, restore: string | undefined): Promise<Sandbox> {
    try {
      if (restore === undefined) return await driver.create(spec);
      if (!driver.restore) throw new PaddockError('driver_unavailable', `driver ${driver.name} cannot restore memory snapshots`, { driver: driver.name });
      return await driver.restore(spec, restore);
    } catch (err) {
      if (err instanceof PaddockError && err.code === 'driver_error') void this.deps.drivers.suspect(driver.name);
      throw err;
    }
  }

  /** A sandbox that dies on its own (agent connection gone, container gone) is recorded `died`. */
  private watch(live: LiveSandbox, agent: AgentClient, died: Promise<string>): void {
    const gone = (detail: string) => {
      if (!live.ending) void this.end(live, 'died', detail);
    };
    void agent.session.closed.then((err) => gone(err.message));
    died.then(gone, (err: unknown) => gone(String(err)));
  }

  /** The sandbox as it is now; someone else's is `404`, as is one that was deleted. */
  async get(id: string, p: Principal | undefined): Promise<SandboxRow> {
    const live = this.live.get(id);
    if (live) {
      if (owns(p, live.row)) return live.row;
    } else {
      const row = await this.deps.store.getSandbox(id);
      if (row && owns(p, row)) return row;
    }
    throw new PaddockError('not_found', `no sandbox ${id}`);
  }

  async list(filter: SandboxFilter): Promise<{ rows: SandboxRow[]; next: string | null }> {
    const page = await this.deps.store.listSandboxes(filter);
    return { rows: page.rows.map((r) => this.live.get(r.id)?.row ?? r), next: page.next };
  }

  /**
   * A running sandbox of this principal's, or why not: `404` when it is not
   * theirs or gone, `409 conflict` (with its `state`) when paused or destroyed.
   */
  async running(id: string, p: Principal | undefined): Promise<LiveSandbox> {
    const row = await this.get(id, p);
    const live = this.live.get(id);
    if (live && !live.ending && row.state === 'running') return live;
    throw new PaddockError('conflict', `sandbox ${id} is ${live?.ending ? 'destroyed' : row.state}`, {
      state: live?.ending ? 'destroyed' : row.state,
      ...(row.reason ? { reason: row.reason } : {}),
    });
  }

  /**
   * The live sandbox `id`, whoever owns it: for a caller let in by a credential that names this one
   * sandbox (a preview token) rather than by its API token.
   */
  liveById(id: string): LiveSandbox | undefined {
    return this.live.get(id);
  }

  /** An exec of a sandbox of this principal's (running, or among the last ended ones kept). */
  async findExec(id: string, p: Principal | undefined, execId: string): Promise<ExecRun> {
    await this.get(id, p);
    const run = this.live.get(id)?.execs.get(execId);
    if (!run) throw new PaddockError('not_found', `no exec ${execId} in sandbox ${id}`);
    return run;
  }

  /** Runs `fn` with the sandbox's agent; the sandbox counts as in use (not idle) meanwhile. */
  async use<T>(id: string, p: Principal | undefined, fn: (agent: AgentClient, live: LiveSandbox) => Promise<T>): Promise<T> {
    const live = await this.running(id, p);
    live.busy++;
    this.touch(live);
    try {
      return await fn(live.agent, live);
    } finally {
      live.busy--;
      this.touch(live);
    }
  }

  /** Starts the idle TTL again; written to the store lazily, at most one write in flight per sandbox. */
  touch(live: LiveSandbox): void {
    if (live.ending) return;
    live.touch();
    recordUse(this.deps.store, this.deps.log, live);
  }

  setTimeout(id: string, p: Principal | undefined, timeoutMs: number): Promise<SandboxRow> {
    return setIdleTimeout(this.controlled, id, p, timeoutMs);
  }

  pause(id: string, p: Principal | undefined): Promise<SandboxRow> {
    return pauseSandbox(this.controlled, id, p);
  }

  resume(id: string, p: Principal | undefined): Promise<SandboxRow> {
    return resumeSandbox(this.controlled, id, p);
  }

  /** What controls.ts works with. */
  private get controlled(): Controlled {
    return {
      config: this.deps.config,
      store: this.deps.store,
      events: this.events,
      liveOf: (id) => this.live.get(id),
      get: (id, p) => this.get(id, p),
      running: (id, p) => this.running(id, p),
      touch: (live) => this.touch(live),
    };
  }

  /** DELETE: ends the sandbox if it is live, then forgets it (a later GET is `404`). */
  async delete(id: string, p: Principal | undefined): Promise<void> {
    await this.get(id, p);
    const live = this.live.get(id);
    if (live) await this.end(live, 'deleted');
    await this.deps.store.deleteSandbox(id);
    this.events.forget(id);
  }

  /** Ends a live sandbox once, whoever asks first (end.ts). */
  end(live: LiveSandbox, reason: SandboxReason, detail?: string): Promise<void> {
    return endSandbox({ store: this.deps.store, log: this.deps.log, events: this.events, live: this.live }, live, reason, detail);
  }

  /** Forgets sandboxes that ended on their own longer than `retention.max_age` ago. */
  prune(now = Date.now()): Promise<void> {
    return this.pruner.run(now);
  }

  /** Ends sandboxes past their lifetime, and idle ones past their TTL; prunes old records now and then. */
  sweep(now = Date.now()): void {
    this.pruner.maybe(now);
    for (const live of this.live.values()) {
      const reason = !live.ending && live.due(now);
      if (!reason) continue;
      this.events.publish(live.id, 'expired', { reason });
      void this.end(live, reason);
    }
  }
}
