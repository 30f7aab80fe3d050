import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Config } from '../../config/schema.js';
import { PaddockError } from '../../errors.js';
import { getImage } from '../../images/catalog.js';
import { SANDBOX_UID } from '../bwrap/args.js';
import type { Logger } from '../../util/log.js';
import { agentBinaryMissing, agentBinaryPath } from '../agent-binary.js';
import { WarmPool } from '../pool.js';
import type { DriverAvailability, DriverCapabilities, Sandbox, SandboxDriver, SandboxSpec } from '../driver.js';
import { type AccelChoice, chooseAccel, readQemuVersion } from './accel.js';
import { type BootFiles, ensureBootFiles } from './boot-files.js';
import { createOverlay, ensureRootDisk } from './disk.js';
import { QemuSandbox } from './sandbox.js';
import { Layers } from './layers.js';
import { type Booted, Machines, type PlanFn } from './machines.js';
import { GUEST_NET, VmNetwork } from './network.js';
import { runnerId } from '../runner-id.js';
import { readSnapshotMeta } from './snapshot.js';
import { AGENT_SOCKET } from './vm.js';

const run = promisify(execFile);

/** What the guest kernel, its page cache and the agent take beyond the job's memory_mb. */
export const GUEST_OVERHEAD_MB = 64;
/** Unix socket paths are at most 107 bytes; the VM dir must leave room for the socket's name. */
const MAX_SOCKET_PATH = 107;
const SAFE_ID = /^[A-Za-z0-9_-]{1,80}$/;
function checkId(id: string): void {
  if (!SAFE_ID.test(id)) throw new PaddockError('validation_failed', `sandbox id ${JSON.stringify(id)} is not a safe file name`);
}

/**
 * The smallest limits a VM runs `sh -c 'echo ok'` with: its memory is the guest's beyond the
 * kernel's own (GUEST_OVERHEAD_MB), its pids and fds are the commands' rlimits (the agent, init
 * and root, is outside them).
 */
const MIN_LIMITS: Partial<SandboxSpec['limits']> = { memory_mb: 16, pids: 4, open_files: 16, disk_mb: 1 };

/**
 * Sandboxes as QEMU microVMs (`-M microvm`): a guest kernel of its own per sandbox, the image's
 * rootfs as an ext4 disk below a per-VM qcow2 overlay, the agent as the guest's init over a
 * virtio-serial port. No network device unless asked (`egress` comes with the per-VM namespace).
 */
export class QemuDriver implements SandboxDriver {
  readonly name = 'qemu';
  readonly capabilities: DriverCapabilities = {
    isolation: 'microvm',
    strength: 40,
    network: ['none'],
    images: true,
    persistent: true,
    pause: true,
    snapshot: 'memory',
    fork: 'memory',
  };
  readonly minLimits = MIN_LIMITS;
  private readonly vmRoot: string;
  private readonly agentPath: string;
  private bootPromise: Promise<BootFiles> | undefined;
  private accel: Promise<AccelChoice> | undefined;
  private qemuVersion: string | undefined;
  private readonly disks = new Map<string, Promise<string>>();
  private readonly live = new Set<QemuSandbox>();
  private readonly machines: Machines;
  /** Restored VMs ready to be handed out, per template key (qemu.pool_size). */
  private readonly pool: WarmPool<Booted>;
  /** `egress`: the runner's VM bridge, a namespace per VM, the firewall (network.ts). */
  private readonly net: VmNetwork;
  private verifier: NodeJS.Timeout | undefined;

  constructor(
    private readonly config: Pick<Config, 'data_dir' | 'images_dir' | 'docker' | 'qemu' | 'egress'>,
    opts: { log: Logger; agentPath?: string },
  ) {
    this.vmRoot = path.join(config.data_dir, 'qemu');
    this.net = new VmNetwork(runnerId(config.data_dir), config.qemu.egress_subnet, config.egress, opts.log.child({ driver: 'qemu', component: 'egress' }));
    this.machines = new Machines(this.vmRoot, new Layers(this.vmRoot), config.qemu, opts.log, this.net);
    const m = this.machines;
    this.pool = new WarmPool<Booted>(
      { size: config.qemu.warm_start ? config.qemu.pool_size : 0, maxKeys: 4, idleMs: 600_000 },
      async (key) => {
        const dir = (await m.making(key)) ?? m.templateDir(key);
        return m.boot(`pool_${randomBytes(8).toString('hex')}`, m.restorePlan(await readSnapshotMeta(dir), dir));
      },
      (b) => m.dispose(b),
      opts.log.child({ driver: 'qemu', component: 'pool' }),
    );
    this.agentPath = opts.agentPath ?? agentBinaryPath();
  }

  async detect(): Promise<DriverAvailability> {
    const details: Record<string, string> = {};
    try {
      const { stdout } = await run(this.config.qemu.binary, ['--version']);
      this.qemuVersion = readQemuVersion(stdout);
      details.version = this.qemuVersion;
    } catch {
      return { available: false, reason: `${this.config.qemu.binary} not found (apt-get install qemu-system-x86)`, details };
    }
    for (const [tool, pkg] of [['qemu-img', 'qemu-utils'], ['mkfs.ext4', 'e2fsprogs'], ['setpriv', 'util-linux'], ['xz', 'xz-utils']] as const) {
      try {
        await run('sh', ['-c', `command -v ${tool}`]);
      } catch {
        return { available: false, reason: `${tool} not found (apt-get install ${pkg})`, details };
      }
    }
    const noAgent = agentBinaryMissing(this.agentPath);
    if (noAgent) return { available: false, reason: noAgent, details };
    if (path.join(this.vmRoot, 'vms', 'x'.repeat(40), AGENT_SOCKET).length > MAX_SOCKET_PATH) {
      return { available: false, reason: `data_dir ${this.config.data_dir} is too long for the VMs' unix sockets (at most ~50 characters)`, details };
    }
    try {
      const boot = await this.bootFiles();
      details.kernel = boot.kernelVersion;
      const accel = await this.accelChoice();
      details.accel = `${accel.accel} (${accel.why})`;
    } catch (err) {
      return { available: false, reason: (err as Error).message, details };
    }
    const missing = await this.net.unavailable();
    details.egress = missing ? `unavailable: ${missing}` : `firewalled (bridge ${this.net.bridge})`;
    this.offerEgress(missing);
    return { available: true, details };
  }

  /** The egress firewall and bridge go in when the runner starts (never from `paddock doctor`, which only detects). */
  warm(): void {
    if (!this.capabilities.network.includes('egress')) return;
    void this.net.start().then(() => this.offerEgress(this.net.failure));
    this.verifier ??= setInterval(() => void this.net.verify().then(() => this.offerEgress(this.net.failure)), 60_000);
    this.verifier.unref();
  }

  /** Fail closed: without its firewall, this driver does not offer `egress` (and says why). */
  private offerEgress(missing: string | undefined): void {
    Object.assign(this.capabilities, { network: missing ? ['none'] : ['none', 'egress'], egressUnavailable: missing });
  }

  private bootFiles(): Promise<BootFiles> {
    this.bootPromise ??= (async () => {
      const image = await getImage(this.config.images_dir, this.config.qemu.kernel_image).catch(() => {
        throw new PaddockError('driver_unavailable', `the guest kernel image ${this.config.qemu.kernel_image} is not built; run: paddock image build ${this.config.qemu.kernel_image}`);
      });
      return ensureBootFiles({ kernelImageDir: path.dirname(image.rootfs), kernelImageHash: image.hash ?? 'unversioned', agentPath: this.agentPath });
    })().catch((err: unknown) => {
      this.bootPromise = undefined;
      throw err;
    });
    return this.bootPromise;
  }

  private accelChoice(): Promise<AccelChoice> {
    const want = this.config.qemu.accel;
    if (want !== 'auto') return Promise.resolve({ accel: want, why: 'set by qemu.accel' });
    this.accel ??= this.bootFiles().then(async (boot) => {
      await mkdir(this.vmRoot, { recursive: true, mode: 0o700 });
      return chooseAccel({ qemu: this.config.qemu.binary, qemuVersion: this.qemuVersion ?? 'unknown', boot, cacheFile: path.join(this.vmRoot, 'accel.json') });
    });
    return this.accel;
  }

  async checkImage(image: string): Promise<void> {
    await getImage(this.config.images_dir, image);
  }

  private rootDisk(imageName: string): Promise<string> {
    return getImage(this.config.images_dir, imageName).then((image) => {
      const key = `${image.name}:${image.hash ?? image.rootfs}`;
      let disk = this.disks.get(key);
      if (!disk) {
        disk = ensureRootDisk(image).catch((err: unknown) => {
          this.disks.delete(key);
          throw err;
        });
        this.disks.set(key, disk);
      }
      return disk;
    });
  }

  async create(spec: SandboxSpec): Promise<Sandbox> {
    if (!this.capabilities.network.includes(spec.network)) {
      const why = this.capabilities.egressUnavailable ? `: ${this.capabilities.egressUnavailable}` : '';
      throw new PaddockError('driver_unavailable', `driver qemu cannot offer network ${spec.network}${why}`, { driver: this.name });
    }
    checkId(spec.id);
    if (spec.network === 'egress') await this.net.ready();
    const cold = await this.coldPlan(spec);
    if (!this.config.qemu.warm_start) return this.adopt(spec, await this.machines.boot(spec.id, cold.plan));
    const pooled = this.pool.take(cold.key);
    if (pooled) return this.adopt(spec, pooled);
    const template = await this.machines.template(cold.key, cold.plan);
    return this.adopt(spec, await this.machines.boot(spec.id, this.machines.restorePlan(await readSnapshotMeta(template), template)));
  }

  /** How a sandbox of this spec boots, and the key of its warm-start template (every input of the plan). */
  private async coldPlan(spec: SandboxSpec): Promise<{ key: string; plan: PlanFn }> {
    const [boot, accel, base] = await Promise.all([this.bootFiles(), this.accelChoice(), this.rootDisk(spec.image ?? this.config.docker.default_image)]);
    const fixed = {
      boot,
      memoryMb: spec.limits.memory_mb + GUEST_OVERHEAD_MB,
      cpus: Math.max(1, Math.ceil(spec.limits.cpus)),
      accel: accel.accel,
      agentArgs: [`--run-as=${SANDBOX_UID}`, `--vm-tmpfs-mb=${spec.limits.disk_mb}`, ...this.netArgs(spec)],
      nic: spec.network === 'egress',
    };
    const key = createHash('sha256').update(JSON.stringify({ base, ...fixed })).digest('hex').slice(0, 20);
    return {
      key,
      plan: async (dir, disk) => {
        await createOverlay(base, disk);
        return { ...fixed, dir, disk };
      },
    };
  }

  /** The guest's side of `egress`: its address and gateway on the /30, its resolvers. */
  private netArgs(spec: SandboxSpec): string[] {
    if (spec.network !== 'egress') return [];
    const g = GUEST_NET;
    return [`--vm-net=${g.guestIp}/${g.prefix},${g.tapIp}`, ...(this.net.resolvers.length ? [`--vm-dns=${this.net.resolvers.join(',')}`] : [])];
  }

  /**
   * A VM that goes on from a memory snapshot: the very command line it was taken with (QEMU
   * checks only -m), a new overlay on the snapshot's frozen disk layer, its memory loaded by
   * `-incoming`; then a new agent connection (the one in its memory is the parent's).
   */
  async restore(spec: SandboxSpec, snapshotDir: string): Promise<Sandbox> {
    checkId(spec.id);
    const meta = await readSnapshotMeta(snapshotDir);
    // The NIC is part of the machine in the snapshot: none cannot be added, one can lead nowhere.
    if (spec.network === 'egress' && !meta.plan.nic) {
      throw new PaddockError('validation_failed', 'this memory snapshot was taken with network "none"; a VM restored from it cannot have egress', { field: 'network' });
    }
    if (spec.network === 'egress') await this.net.ready();
    const plan = this.machines.restorePlan(meta, snapshotDir);
    return this.adopt(spec, await this.machines.boot(spec.id, plan, { offline: spec.network !== 'egress' }));
  }

  private async adopt(spec: SandboxSpec, b: Booted): Promise<QemuSandbox> {
    // A job's own allow list, on its VM's namespace address, before anything runs in it.
    const allow = spec.network === 'egress' ? spec.egressAllow : undefined;
    if (allow && b.net) {
      await this.net.restrict(b.vmId, b.net.ip, allow).catch(async (err) => {
        await this.machines.dispose(b);
        throw err;
      });
    }
    const made: QemuSandbox = new QemuSandbox(spec.id, b.vmId, b.vm, b.conn, spec, this.machines.layers, async () => {
      this.live.delete(made);
      await this.machines.releaseVm(b.dir, made.top);
    });
    this.live.add(made);
    void made.died.then(() => made.destroy());
    return made;
  }

  /**
   * VMs a killed runner left: their QEMU died with it (PR_SET_PDEATHSIG), but not their dirs and
   * disk layers (machines.ts).
   */
  reapOrphans(): Promise<number> {
    return this.machines.reapOrphans();
  }

  async close(): Promise<void> {
    clearInterval(this.verifier);
    await this.pool.drain();
    await Promise.all([...this.live].map((s) => s.destroy()));
    await this.net.close();
  }
}
