import { createHash } from 'node:crypto';
import Dockerode from 'dockerode';
import type { Config } from '../../config/schema.js';
import { PaddockError } from '../../errors.js';
import type { Logger } from '../../util/log.js';
import type { DriverAvailability, DriverCapabilities, Sandbox, SandboxDriver, SandboxSpec } from '../driver.js';
import { WarmPool } from '../pool.js';
import { containerCreateOptions, sandboxLabels } from './container-spec.js';
import { engineClient } from './engine.js';
import { EgressNetwork } from './network.js';
import { ImageResolver } from './images.js';
import { LABELS, runnerId } from './labels.js';
import { DockerSandbox } from './sandbox.js';

export interface DockerDriverOptions {
  name: 'docker' | 'gvisor';
  runtime: 'runc' | 'runsc';
  log: Logger;
  docker?: Dockerode;
}

/** The reaper runs at start-up and then this often, for containers nothing here owns. */
const REAP_EVERY_MS = 60_000;
/** While running, a container this young may be ours but not yet recorded. */
const MIN_ORPHAN_AGE_S = 30;

type PoolKey = { image: string; limits: SandboxSpec['limits']; network: SandboxSpec['network'] };

const CAPABILITIES: Record<'runc' | 'runsc', DriverCapabilities> = {
  runc: { isolation: 'container', strength: 20, network: ['none', 'egress'], images: true, persistent: true, snapshot: false, fork: false },
  // gVisor cannot join Docker's bridge on every host (runsc runs with --network=none here).
  runsc: { isolation: 'gvisor', strength: 30, network: ['none'], images: true, persistent: true, snapshot: false, fork: false },
};

/**
 * Containers through the Docker Engine API: `docker` runs them with runc,
 * `gvisor` is the same code with the runsc runtime (a user-space kernel between
 * the job and the host). A warm pool keeps started containers ready per
 * (image, limits, network); each is used for exactly one job and then removed.
 */
export class DockerDriver implements SandboxDriver {
  readonly name: string;
  readonly capabilities: DriverCapabilities;
  private readonly docker: Dockerode;
  private readonly images: ImageResolver;
  private readonly pool: WarmPool<Dockerode.Container>;
  private readonly runner: string;
  private readonly live = new Set<string>();
  private readonly removals = new Set<Promise<void>>();
  private defaultKey: string | undefined;
  private reaper: NodeJS.Timeout | undefined;
  /** The firewalled bridge of `egress` jobs; only drivers whose containers can join it have one. */
  private readonly egress: EgressNetwork | undefined;

  constructor(
    private readonly config: Pick<Config, 'data_dir' | 'host_id' | 'docker' | 'pool' | 'limits' | 'egress'>,
    private readonly opts: DockerDriverOptions,
  ) {
    this.name = opts.name;
    // Per driver: `egress` leaves its network list when the firewall is missing or fails.
    this.capabilities = { ...CAPABILITIES[opts.runtime] };
    this.docker = opts.docker ?? engineClient(config.docker.socket);
    this.images = new ImageResolver(this.docker);
    this.runner = runnerId(config.data_dir);
    if (this.capabilities.network.includes('egress')) {
      this.egress = new EgressNetwork(this.docker, this.runner, config.host_id, config.egress, opts.log.child({ driver: opts.name, component: 'egress' }));
    }
    this.pool = new WarmPool(
      { size: config.pool.size, maxKeys: config.pool.max_classes, idleMs: config.pool.idle_ms },
      (key) => this.startContainer(JSON.parse(key) as PoolKey, { pool: poolLabel(key) }),
      (c) => this.remove(c),
      opts.log.child({ driver: opts.name, component: 'pool' }),
    );
  }

  async detect(): Promise<DriverAvailability> {
    const details: Record<string, string> = { runtime: this.opts.runtime, pool_size: String(this.config.pool.size) };
    let info: { ServerVersion?: string; Runtimes?: Record<string, unknown> };
    try {
      info = await this.docker.info();
    } catch (err) {
      return { available: false, reason: `Docker Engine not reachable at ${this.config.docker.socket}: ${(err as Error).message}`, details };
    }
    details.engine = info.ServerVersion ?? 'unknown';
    if (!info.Runtimes?.[this.opts.runtime]) {
      return { available: false, reason: `Docker has no "${this.opts.runtime}" runtime (see scripts/install-docker.sh)`, details };
    }
    const image = await this.images.resolve(this.config.docker.default_image).catch(() => undefined);
    if (!image) {
      return { available: false, reason: `default image "${this.config.docker.default_image}" is not built (paddock image build base)`, details };
    }
    details.default_image = image;
    // The honest probe: start a real container as a job would, and run `true` in it.
    try {
      const sandbox = await this.create({ id: `probe-${Date.now()}`, network: 'none', files: [], limits: this.config.limits.default });
      const r = await sandbox.exec({ argv: ['true'], cwd: '/work', env: {} }, () => undefined, AbortSignal.timeout(30_000));
      await sandbox.destroy();
      if (r.exitCode !== 0) return { available: false, reason: `probe container exited ${r.exitCode}: ${r.stderr.trim()}`, details };
    } catch (err) {
      return { available: false, reason: `probe container failed: ${(err as Error).message}`, details };
    }
    this.defaultKey = this.poolKey({ image, limits: this.config.limits.default, network: 'none' });
    if (this.egress) {
      const missing = await this.egress.unavailable();
      details.egress = missing ? `unavailable: ${missing}` : `firewalled (bridge ${this.egress.bridge})`;
      this.offerEgress(missing);
    }
    return { available: true, details };
  }

  /** Fills the pool for the most common job (default image and limits, no network) and starts the periodic reaper. */
  warm(): void {
    if (this.defaultKey) this.pool.fill(this.defaultKey);
    // The egress firewall goes in when the runner starts (never from `paddock doctor`, which only detects).
    if (this.egress && this.capabilities.network.includes('egress')) {
      void this.egress.start().then(() => this.offerEgress(this.egress?.failure));
    }
    this.reaper ??= setInterval(() => {
      void this.reapOrphans(MIN_ORPHAN_AGE_S);
      void this.egress?.verify().then(() => this.offerEgress(this.egress?.failure));
    }, REAP_EVERY_MS);
    this.reaper.unref();
  }

  /** Fail closed: without its firewall, this driver does not offer `egress` (and says why). */
  private offerEgress(missing: string | undefined): void {
    Object.assign(this.capabilities, {
      network: missing ? ['none'] : CAPABILITIES[this.opts.runtime].network,
      egressUnavailable: missing,
    });
  }

  private async egressReady(): Promise<EgressNetwork> {
    if (!this.egress) throw new PaddockError('driver_unavailable', `driver ${this.name} supports network "none" only`);
    try {
      await this.egress.ready();
    } finally {
      this.offerEgress(this.egress.failure);
    }
    return this.egress;
  }

  async checkImage(image: string): Promise<void> {
    await this.images.resolve(image);
  }

  async create(spec: SandboxSpec): Promise<Sandbox> {
    if (!this.capabilities.network.includes(spec.network)) {
      throw new PaddockError('driver_unavailable', `driver ${this.name} supports network "none" only`, { driver: this.name });
    }
    const image = await this.images.resolve(spec.image ?? this.config.docker.default_image);
    const key = this.poolKey({ image, limits: spec.limits, network: spec.network });
    // Each limits class in use gets its pool; the pool bounds how many classes it keeps warm.
    // A job's own egress allow list needs rules for its container, so it gets a fresh one.
    const allow = spec.network === 'egress' ? spec.egressAllow : undefined;
    const container =
      (allow ? undefined : await this.takeRunning(key)) ??
      (await this.startContainer({ image, limits: spec.limits, network: spec.network }, { job: spec.id }));
    if (allow) {
      await (await this.egressReady()).restrict(container, allow).catch(async (err) => {
        await this.remove(container);
        throw err;
      });
    }
    return new DockerSandbox(spec.id, container, spec, async () => this.removeLater(container), this.docker);
  }

  /**
   * A pooled container that is still running. One that died while idle (OOM of
   * the launcher, or a dockerd restart, which stops every container) is dropped.
   */
  private async takeRunning(key: string): Promise<Dockerode.Container | undefined> {
    for (let c = this.pool.take(key); c; c = this.pool.take(key)) {
      const running = await c.inspect().then((i) => i.State.Running, () => false);
      if (running) return c;
      this.removeLater(c);
    }
    return undefined;
  }

  /** What the container is made of: timeout_ms and output_bytes are enforced by the runner, not by it. */
  private poolKey(k: PoolKey): string {
    const { timeout_ms: _timeout, output_bytes: _output, ...container } = k.limits;
    return JSON.stringify({ image: k.image, limits: container, network: k.network });
  }

  private async startContainer(k: PoolKey, label: { job?: string; pool?: string }): Promise<Dockerode.Container> {
    const egressNetwork = k.network === 'egress' ? (await this.egressReady()).name : undefined;
    const container = await this.docker.createContainer(
      containerCreateOptions({
        image: k.image,
        runtime: this.opts.runtime,
        limits: k.limits,
        network: k.network,
        egressNetwork,
        init: true,
        labels: sandboxLabels({ runner: this.runner, host: this.config.host_id, ...label }),
      }),
    );
    this.live.add(container.id);
    try {
      await container.start();
    } catch (err) {
      await this.remove(container);
      throw new PaddockError('driver_error', `cannot start container: ${(err as Error).message}`);
    }
    return container;
  }

  /** Removal is off the job's path; close() waits for what is still under way. */
  private removeLater(container: Dockerode.Container): void {
    const removal = this.remove(container).finally(() => this.removals.delete(removal));
    this.removals.add(removal);
  }

  private async remove(container: Dockerode.Container): Promise<void> {
    this.live.delete(container.id);
    await container.remove({ force: true, v: true }).catch(() => undefined);
    await this.egress?.release(container.id);
  }

  /** Removes containers of this runner that nothing here owns (after a crash, or leaked). */
  async reapOrphans(minAgeS = 0): Promise<number> {
    let list: Dockerode.ContainerInfo[];
    try {
      list = await this.docker.listContainers({ all: true, filters: { label: [`${LABELS.runner}=${this.runner}`] } });
    } catch {
      return 0; // no engine, nothing to reap
    }
    // Later passes skip the very young: one may be created but not yet recorded as ours.
    const settled = Date.now() / 1000 - minAgeS;
    const mine = list.filter((c) => !this.live.has(c.Id) && c.Labels[LABELS.runner] === this.runner && c.Created <= settled);
    // Both drivers share the runner label; each reaps only containers of its runtime.
    const ours = [];
    for (const c of mine) {
      const info = await this.docker.getContainer(c.Id).inspect().catch(() => undefined);
      if (info && (info.HostConfig.Runtime ?? 'runc') === this.opts.runtime) ours.push(c.Id);
    }
    await Promise.all(ours.map((id) => this.docker.getContainer(id).remove({ force: true, v: true }).catch(() => undefined)));
    return ours.length;
  }

  async close(): Promise<void> {
    clearInterval(this.reaper);
    await this.pool.drain();
    await Promise.all([...this.removals]);
    await this.egress?.close();
  }

  /** Idle containers ready for jobs like `spec` (tests, benches). */
  async poolReady(spec: Pick<SandboxSpec, 'image' | 'limits' | 'network'>): Promise<number> {
    const image = await this.images.resolve(spec.image ?? this.config.docker.default_image);
    return this.pool.ready(this.poolKey({ image, limits: spec.limits, network: spec.network }));
  }
}

const poolLabel = (key: string) => createHash('sha256').update(key).digest('hex').slice(0, 12);
