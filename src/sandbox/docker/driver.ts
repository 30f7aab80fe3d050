import Dockerode from 'dockerode';
import type { Config } from '../../config/schema.js';
import { PaddockError } from '../../errors.js';
import type { Logger } from '../../util/log.js';
import { AGENT_IN_SANDBOX, agentBinaryMissing, agentBinaryPath } from '../agent-binary.js';
import type { DriverAvailability, DriverCapabilities, Sandbox, SandboxDriver, SandboxSpec } from '../driver.js';
import { WarmPool } from '../pool.js';
import { type Box, Containers } from './containers.js';
import { engineClient } from './engine.js';
import { EgressNetwork } from './network.js';
import { ImageResolver } from './images.js';
import { type PoolKey, poolKey, poolLabel } from './pool-key.js';
import { runnerId } from './labels.js';
import { DockerSandbox } from './sandbox.js';
import { sharedUidRange } from './uids.js';

export interface DockerDriverOptions {
  name: 'docker' | 'gvisor';
  runtime: 'runc' | 'runsc';
  log: Logger;
  docker?: Dockerode;
  /** The agent binary to bind-mount; the package's build (agent-binary.ts) unless a test says otherwise. */
  agentPath?: string;
}

/** The reaper runs at start-up and then this often, for containers nothing here owns. */
const REAP_EVERY_MS = 60_000;
/** While running, a container this young may be ours but not yet recorded. */
const MIN_ORPHAN_AGE_S = 30;

const CAPABILITIES: Record<'runc' | 'runsc', DriverCapabilities> = {
  runc: { isolation: 'container', strength: 20, network: ['none', 'egress'], images: true, persistent: true, pause: true, snapshot: 'filesystem', fork: 'filesystem' },
  // gVisor cannot join Docker's bridge on every host (runsc runs with --network=none here).
  runsc: { isolation: 'gvisor', strength: 30, network: ['none'], images: true, persistent: true, pause: true, snapshot: 'filesystem', fork: 'filesystem' },
};

/**
 * The smallest limits a container starts `sh -c 'echo ok'` with, 5 of 5 times
 * (gVisor 3 of 3), measured through this driver (create + exec, one limit
 * lowered at a time from the defaults) with the agent as PID 1, on Debian 12,
 * Docker 20.10, cgroup v1, 2 cores, Dec 2026 — then rounded up with a margin:
 * - runc: pids 8 (the agent's runtime threads, the command; 7 hung 2 of 5),
 *   memory_mb 6 (the Engine's own floor), open_files 16 (11: the agent cannot
 *   start the command and does not answer), disk_mb 1.
 * - runsc: pids 48 (the sentry's and gofer's host threads count against the
 *   container's pids cgroup), memory_mb 16, open_files 16 (12 hangs as above), disk_mb 1.
 * Below these a job is refused at submit (`limit_too_small`); a container that
 * still fails to start on the job's own small limits is reported as such (failures.ts).
 */
const MIN_LIMITS: Record<'runc' | 'runsc', Partial<SandboxSpec['limits']>> = {
  runc: { pids: 10, memory_mb: 12, open_files: 20, disk_mb: 1 },
  runsc: { pids: 80, memory_mb: 24, open_files: 20, disk_mb: 1 },
};

/** How long a pooled container's warm-up command may take; one that fails is pooled all the same. */
const WARM_UP_MS = 5000;

/**
 * Runs one throw-away command in a pooled container (the agent binary itself, which every image has:
 * on stdin /dev/null it says HELLO and ends): a container's first command pays for its first fork,
 * exec and cgroup charges (measured: echo 5.3 → 3.5 ms median under runc, 26 → 19 ms under gVisor),
 * and in the pool that is off every job's path.
 */
async function warmUp(box: Box): Promise<Box> {
  await box.agent.exec({ argv: [AGENT_IN_SANDBOX], env: {}, cwd: '/' }, {}, AbortSignal.timeout(WARM_UP_MS)).result.catch(() => undefined);
  return box;
}

/**
 * Containers through the Docker Engine API: `docker` runs them with runc,
 * `gvisor` is the same code with the runsc runtime (a user-space kernel between
 * the job and the host). Each container's main process is the in-sandbox agent;
 * a sandbox lives until it is destroyed. A warm pool keeps containers whose agent
 * said HELLO ready per (image, limits, network); each serves one sandbox and is
 * then removed.
 */
export class DockerDriver implements SandboxDriver {
  readonly name: string;
  readonly capabilities: DriverCapabilities;
  readonly minLimits: Partial<SandboxSpec['limits']>;
  private readonly docker: Dockerode;
  private readonly images: ImageResolver;
  private readonly pool: WarmPool<Box>;
  private readonly agentPath: string;
  private readonly containers: Containers;
  private defaultKey: string | undefined;
  private reaper: NodeJS.Timeout | undefined;
  /** The firewalled bridge of `egress` jobs; only drivers whose containers can join it have one. */
  private readonly egress: EgressNetwork | undefined;

  constructor(
    private readonly config: Pick<Config, 'data_dir' | 'host_id' | 'docker' | 'pool' | 'limits' | 'egress'>,
    private readonly opts: DockerDriverOptions,
  ) {
    this.name = opts.name;
    this.agentPath = opts.agentPath ?? (config.docker.agent_path || agentBinaryPath());
    // Per driver: `egress` leaves its network list when the firewall is missing or fails.
    this.capabilities = { ...CAPABILITIES[opts.runtime] };
    this.minLimits = MIN_LIMITS[opts.runtime];
    this.docker = opts.docker ?? engineClient(config.docker.socket);
    this.images = new ImageResolver(this.docker);
    const runner = runnerId(config.data_dir);
    if (this.capabilities.network.includes('egress')) {
      this.egress = new EgressNetwork(this.docker, runner, config.host_id, config.egress, opts.log.child({ driver: opts.name, component: 'egress' }));
    }
    this.containers = new Containers({
      docker: this.docker,
      agentPath: this.agentPath,
      log: opts.log.child({ driver: opts.name }),
      uids: sharedUidRange(config.docker.uid_range_start, config.docker.uid_range_size),
      runner,
      host: config.host_id,
      runtime: opts.runtime,
      defaults: config.limits.default,
      egress: this.egress,
    });
    this.pool = new WarmPool(
      { size: config.pool.size, maxKeys: config.pool.max_classes, idleMs: config.pool.idle_ms },
      (key) => this.startContainer(JSON.parse(key) as PoolKey, { pool: poolLabel(key) }).then(warmUp),
      async (b) => this.containers.discard(b),
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
    const noAgent = agentBinaryMissing(this.agentPath);
    if (noAgent) return { available: false, reason: noAgent, details };
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
      const r = await sandbox.exec({ argv: ['true'], cwd: '/work', env: { PATH: '/usr/bin:/bin' } }, () => undefined, AbortSignal.timeout(30_000));
      await sandbox.destroy();
      // Removal is normally off the job's path; the probe's is waited for, so a started runner has left none.
      await this.containers.settled();
      if (r.exitCode !== 0) return { available: false, reason: `probe container exited ${r.exitCode}: ${r.stderr.trim()}`, details };
    } catch (err) {
      return { available: false, reason: `probe container failed: ${(err as Error).message}`, details };
    }
    this.defaultKey = poolKey({ image, limits: this.config.limits.default, network: 'none' });
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
    const key = poolKey({ image, limits: spec.limits, network: spec.network });
    // Each limits class in use gets its pool; the pool bounds how many classes it keeps warm.
    // A job's own egress allow list needs rules for its container, so it gets a fresh one.
    const allow = spec.network === 'egress' ? spec.egressAllow : undefined;
    const box =
      (allow ? undefined : await this.takeRunning(key)) ??
      (await this.startContainer({ image, limits: spec.limits, network: spec.network }, { job: spec.id }));
    if (allow) {
      await (await this.egressReady()).restrict(box.container, allow).catch(async (err) => {
        box.agent.close();
        await this.containers.remove(box.container);
        throw err;
      });
    }
    box.ctx.sandboxId = spec.id;
    return new DockerSandbox(spec.id, box, spec, () => this.containers.discard(box));
  }

  /**
   * A pooled container whose agent is still connected. One that died while idle
   * (a dockerd restart stops every container; its attach stream then ends) is dropped.
   */
  private async takeRunning(key: string): Promise<Box | undefined> {
    for (let b = this.pool.take(key); b; b = this.pool.take(key)) {
      if (b.agent.session.error === null) return b;
      this.containers.discard(b);
    }
    return undefined;
  }

  private async startContainer(k: PoolKey, label: { job?: string; pool?: string }): Promise<Box> {
    const egressNetwork = k.network === 'egress' ? (await this.egressReady()).name : undefined;
    return this.containers.start(k, label, egressNetwork);
  }

  /** Removes containers of this runner that nothing here owns (after a crash, or leaked). */
  reapOrphans(minAgeS = 0): Promise<number> {
    return this.containers.reapOrphans(minAgeS);
  }

  async close(): Promise<void> {
    clearInterval(this.reaper);
    await this.pool.drain();
    await this.containers.settled();
    await this.egress?.close();
  }

  /** Idle containers ready for jobs like `spec` (tests, benches). */
  async poolReady(spec: Pick<SandboxSpec, 'image' | 'limits' | 'network'>): Promise<number> {
    const image = await this.images.resolve(spec.image ?? this.config.docker.default_image);
    return this.pool.ready(poolKey({ image, limits: spec.limits, network: spec.network }));
  }
}

