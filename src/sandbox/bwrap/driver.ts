import { execFile } from 'node:child_process';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Config, Limits } from '../../config/schema.js';
import { PaddockError } from '../../errors.js';
import { closeInheritedFds, inheritableFds } from '../../util/fds.js';
import { createLogger, type Logger } from '../../util/log.js';
import { agentBinaryMissing, agentBinaryPath, spawnerBinaryPath } from '../agent-binary.js';
import {
  type DriverAvailability,
  type DriverCapabilities,
  type Sandbox,
  type SandboxDriver,
  type SandboxSpec,
  WORK_DIR,
} from '../driver.js';
import { WarmPool } from '../pool.js';
import { cgroupGroup } from '../runner-id.js';
import { UidRange } from '../uid-range.js';
import { type Box, type BoxHost, startBox } from './box.js';
import { CgroupV1 } from './cgroup.js';
import { hostDetails, MIN_LIMITS } from './details.js';
import { imageRootfs, writeEtc } from './host-files.js';
import { type PoolKey, poolKey } from './pool-key.js';
import { BwrapSandbox } from './sandbox.js';
import { buildSeccompFilter, type SeccompFilter } from './seccomp.js';
import { Spawner } from './spawner.js';

const run = promisify(execFile);

/** A taken warm sandbox is replaced by then at the latest, if its first command has not started it. */
const REFILL_DELAY_MS = 20;
const FD_SCAN_INTERVAL_MS = 1000;
let lastFdScan = 0;

export interface BwrapDriverOptions {
  log?: Logger | undefined;
}

/**
 * Namespaces via bubblewrap: no daemon, works for an unprivileged user. Root filesystem is
 * the host's /usr (read-only) or an image rootfs. Each sandbox is one long-lived bwrap whose
 * PID 1 is the in-sandbox agent; a warm pool keeps sandboxes whose agent said HELLO ready
 * per (rootfs, limits), each serving one sandbox and then removed.
 */
export class BwrapDriver implements SandboxDriver {
  readonly name = 'bwrap';
  readonly capabilities: DriverCapabilities;
  /**
   * See MIN_LIMITS. open_files is each command's (the agent's own fds come on top, chain.ts);
   * below it a command cannot start. disk_mb and cpu_ms start with 1.
   */
  readonly minLimits: Partial<Limits>;
  private readonly host: Omit<BoxHost, 'seccompFile'>;
  private readonly spawnerPath = spawnerBinaryPath();
  private readonly imagesDir: string;
  private readonly uids: UidRange | undefined;
  private readonly pool: WarmPool<Box>;
  /** Sandboxes being removed (killed, waited out), for close() to wait on. */
  private readonly removals = new Set<Promise<void>>();
  private cgroupNote: string;
  private prepared: Promise<void> | undefined;
  private seccomp: Promise<SeccompFilter> | undefined;

  constructor(
    private readonly config: Pick<Config, 'data_dir' | 'images_dir' | 'sandbox' | 'max_concurrent_jobs' | 'pool' | 'limits'>,
    opts: BwrapDriverOptions = {},
  ) {
    // `paddock serve` did this first thing (src/cli/main.ts); in-process runners (tests,
    // benches) start here. Every start then refuses if an inheritable fd shows up again.
    closeInheritedFds();
    const root = process.getuid?.() === 0;
    const group = cgroupGroup(config.data_dir);
    const cgroupReason = config.sandbox.cgroups === 'off' ? 'disabled by config' : CgroupV1.unavailableReason();
    this.cgroupNote = cgroupReason ? `off (${cgroupReason})` : `v1 (${group})`;
    const log = opts.log ?? createLogger('silent');
    const cgroup = cgroupReason ? undefined : new CgroupV1(group);
    this.host = {
      bwrap: config.sandbox.bwrap_path,
      etcDir: path.join(config.data_dir, 'bwrap', 'etc'),
      agentPath: agentBinaryPath(),
      spawner: new Spawner(this.spawnerPath, log.child({ driver: 'bwrap', component: 'spawner' }), path.join(config.data_dir, 'bwrap')),
      cgroup,
      log: log.child({ driver: 'bwrap' }),
    };
    this.capabilities = {
      isolation: 'namespaces',
      strength: 10,
      network: ['none'],
      images: true,
      persistent: true,
      pause: Boolean(cgroup?.freezer),
      snapshot: 'filesystem',
      fork: 'filesystem',
    };
    this.imagesDir = config.images_dir;
    this.uids = root ? new UidRange(config.sandbox.uid_range_start, config.sandbox.uid_range_size, 'sandbox.uid_range_*') : undefined;
    this.minLimits = MIN_LIMITS[cgroup ? 'cgroups' : 'rlimits'];
    this.pool = new WarmPool(
      { size: config.pool.size, maxKeys: config.pool.max_classes, idleMs: config.pool.idle_ms },
      (key) => this.startBox(JSON.parse(key) as PoolKey, 'pool', true),
      (box) => this.remove(box),
      log.child({ driver: 'bwrap', component: 'pool' }),
    );
  }

  /**
   * The seccomp filter, compiled once per process (fail closed: without it no bwrap
   * sandbox starts). Retried on the next call after a failure, e.g. once the package is installed.
   */
  private seccompFilter(): Promise<SeccompFilter> {
    this.seccomp ??= buildSeccompFilter(path.join(this.config.data_dir, 'bwrap', 'seccomp.bpf')).catch((err: Error) => {
      this.seccomp = undefined;
      throw new PaddockError('driver_unavailable', err.message, { driver: this.name });
    });
    return this.seccomp;
  }

  async detect(): Promise<DriverAvailability> {
    const details: Record<string, string> = { cgroups: this.cgroupNote, pool_size: String(this.config.pool.size) };
    try {
      const { stdout } = await run(this.host.bwrap, ['--version']);
      details.version = stdout.trim();
    } catch {
      return { available: false, reason: `${this.host.bwrap} not found (apt-get install bubblewrap)`, details };
    }
    const noAgent = agentBinaryMissing(this.host.agentPath) ?? agentBinaryMissing(this.spawnerPath, "bwrap's spawner");
    if (noAgent) return { available: false, reason: noAgent, details };
    Object.assign(
      details,
      hostDetails({ uids: this.uids, maxConcurrentJobs: this.config.max_concurrent_jobs, cgroup: this.host.cgroup, pause: this.capabilities.pause }),
    );
    try {
      await this.prepareHost();
      const filter = await this.seccompFilter();
      details.seccomp = `on (libseccomp${filter.unknown.length ? `; unknown to it, so not filtered: ${filter.unknown.join(', ')}` : ''})`;
    } catch (err) {
      details.seccomp = 'missing';
      return { available: false, reason: (err as Error).message, details };
    }
    // The honest probe: run a real sandbox exactly as a job would.
    try {
      const result = await this.probe();
      if (result.exitCode !== 0 || result.stdout !== 'ok\n') {
        return { available: false, reason: `probe sandbox failed: ${result.stderr.trim() || `exit ${result.exitCode}`}`, details };
      }
    } catch (err) {
      return { available: false, reason: `probe sandbox failed: ${(err as Error).message}`, details };
    }
    return { available: true, details };
  }

  private async probe() {
    // Never from the pool, and it fills none: `paddock doctor` probes too, and runs no jobs.
    const spec: SandboxSpec = {
      id: `probe-${process.pid}-${Date.now()}`,
      network: 'none',
      files: [],
      limits: { timeout_ms: 5000, memory_mb: 64, cpu_ms: 5000, pids: 16, output_bytes: 1024, disk_mb: 1, open_files: 64, cpus: 1 },
    };
    const box = await this.startBox({ rootfs: undefined, limits: spec.limits }, 'probe', false);
    const sandbox = new BwrapSandbox(spec.id, box, spec, this.host.cgroup, () => this.remove(box));
    try {
      const result = await sandbox.exec({ argv: ['/bin/echo', 'ok'], cwd: WORK_DIR, env: {} }, () => undefined, AbortSignal.timeout(5000));
      return result;
    } finally {
      await sandbox.destroy();
    }
  }

  /** Fills the pool for the most common job (no image, default limits) once the runner starts. */
  warm(): void {
    if (!this.seccomp) return; // never detected: the driver is not in use
    this.pool.fill(poolKey({ rootfs: undefined, limits: this.config.limits.default }));
  }

  async create(spec: SandboxSpec): Promise<Sandbox> {
    if (spec.network !== 'none') {
      throw new PaddockError('driver_unavailable', `driver bwrap supports network "none" only, not "${spec.network}"`, {
        driver: this.name,
      });
    }
    const k: PoolKey = { rootfs: spec.image ? this.resolveImage(spec.image) : undefined, limits: spec.limits };
    const key = poolKey(k);
    // The pool is refilled once the first command is on its way (the agent runs it meanwhile)
    // or shortly after, whichever is first: starting a sandbox blocks this thread for a moment.
    let refilled = false;
    const refill = () => {
      if (!refilled) this.pool.fill(key);
      refilled = true;
    };
    setTimeout(refill, REFILL_DELAY_MS).unref();
    const box = this.takeRunning(key) ?? (await this.startBox(k, 'sbx', false));
    return new BwrapSandbox(spec.id, box, spec, this.host.cgroup, () => this.remove(box), refill);
  }

  /** A pooled sandbox whose agent is still connected; one that died while idle is removed. */
  private takeRunning(key: string): Box | undefined {
    for (let b = this.pool.take(key, { refill: false }); b; b = this.pool.take(key, { refill: false })) {
      if (b.agent.session.error === null && b.proc.alive) return b;
      void this.remove(b);
    }
    return undefined;
  }

  /**
   * Starts a sandbox under its own host uid. A warm one leaves max_concurrent_jobs uids of the
   * range free, so the pool can never take the uids that jobs and sandboxes need.
   */
  private async startBox(k: PoolKey, label: string, warm: boolean): Promise<Box> {
    await this.prepareHost();
    const { file: seccompFile } = await this.seccompFilter();
    // Defence in depth: serve closed what it inherited at start (src/util/fds.ts), and all
    // Paddock opens is close-on-exec; an fd that is not would reach the sandbox. The scan
    // reads one /proc file per open fd (~10 µs each), so with many connections open it runs
    // at most once a second; a leak that stays is still caught on the next starts.
    const now = Date.now();
    const leaked = now - lastFdScan >= FD_SCAN_INTERVAL_MS ? ((lastFdScan = now), inheritableFds()) : [];
    if (leaked.length) {
      lastFdScan = 0;
      throw new PaddockError('driver_error', `refusing to start a sandbox: the runner holds ${leaked.length} fd(s) that are not close-on-exec`);
    }
    const uids = this.uids;
    if (warm && uids && uids.size - uids.inUse <= this.config.max_concurrent_jobs) {
      throw new Error('no host uid to spare for a warm sandbox (sandbox.uid_range_size)');
    }
    const uid = uids?.take();
    try {
      return await startBox({ ...this.host, seccompFile }, { limits: k.limits, rootfs: k.rootfs, uid }, label);
    } catch (err) {
      if (uid !== undefined) uids?.release(uid);
      throw err;
    }
  }

  /** Kills a sandbox and, once every process of it is gone, gives its uid back. */
  private remove(box: Box): Promise<void> {
    const removal = box
      .remove()
      .catch((err: unknown) => this.host.log.warn({ err, ...box.ctx }, 'could not remove a sandbox'))
      .finally(() => {
        if (box.spec.uid !== undefined) this.uids?.release(box.spec.uid);
      })
      .finally(() => this.removals.delete(removal));
    this.removals.add(removal);
    return removal;
  }

  async checkImage(image: string): Promise<void> {
    this.resolveImage(image);
  }

  private resolveImage(image: string): string {
    return imageRootfs(this.imagesDir, image);
  }

  /** Synthesized /etc files, once (concurrent starts wait for the same one). */
  private prepareHost(): Promise<void> {
    this.prepared ??= writeEtc(this.config.data_dir, this.host.etcDir).catch((err: unknown) => {
      this.prepared = undefined;
      throw err;
    });
    return this.prepared;
  }

  async close(): Promise<void> {
    await this.pool.drain();
    while (this.removals.size) await Promise.all([...this.removals]);
    await this.host.spawner.close();
    await this.host.cgroup?.removeGroup();
  }

  /** Idle sandboxes ready for jobs like `spec` (tests, benches). */
  poolReady(spec: Pick<SandboxSpec, 'image' | 'limits'>): number {
    return this.pool.ready(poolKey({ rootfs: spec.image ? this.resolveImage(spec.image) : undefined, limits: spec.limits }));
  }

  /** Removes sandboxes a previous process of this runner left behind. Only a starting runner may call it. */
  async reapOrphans(): Promise<number> {
    await this.prepareHost();
    let reaped = 0;
    for (const id of this.host.cgroup?.list() ?? []) {
      await this.host.cgroup?.reap(id);
      reaped++;
    }
    // Input files used to be staged there; sandboxes now get them through their agent.
    await rm(path.join(this.config.data_dir, 'sandboxes'), { recursive: true, force: true });
    return reaped;
  }
}
