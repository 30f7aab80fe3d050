import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Config } from '../../config/schema.js';
import { PaddockError } from '../../errors.js';
import { getImage } from '../../images/catalog.js';
import { SANDBOX_UID } from '../bwrap/args.js';
import type { Logger } from '../../util/log.js';
import type { AgentClient } from '../agent/agent-client.js';
import { agentBinaryMissing, agentBinaryPath } from '../agent-binary.js';
import { WarmPool } from '../pool.js';
import type { DriverAvailability, DriverCapabilities, Sandbox, SandboxDriver, SandboxSpec } from '../driver.js';
import { type AccelChoice, chooseAccel, readQemuVersion } from './accel.js';
import { type BootFiles, ensureBootFiles } from './boot-files.js';
import { createOverlay, ensureRootDisk } from './disk.js';
import { QemuSandbox } from './sandbox.js';
import { Layers } from './layers.js';
import { incomingDone, readSnapshotMeta, shellSafe, SNAPSHOT_MEMORY, SNAPSHOT_META, snapshotVm, type VmSnapshotMeta } from './snapshot.js';
import { AGENT_SOCKET, PID_FILE, QemuVm, type VmPlan } from './vm.js';

const run = promisify(execFile);

/** What the guest kernel, its page cache and the agent take beyond the job's memory_mb. */
export const GUEST_OVERHEAD_MB = 64;
/** Unix socket paths are at most 107 bytes; the VM dir must leave room for the socket's name. */
const MAX_SOCKET_PATH = 107;
const SAFE_ID = /^[A-Za-z0-9_-]{1,80}$/;
/** Warm-start templates kept (each a booted guest's memory, tens of MiB). */
const MAX_TEMPLATES = 8;

type PlanFn = (dir: string, disk: string) => Promise<VmPlan>;

/** A running VM with its agent connection, not yet (or never) a sandbox. */
interface Booted {
  vmId: string;
  dir: string;
  vm: QemuVm;
  conn: { agent: AgentClient; socket: Socket };
  disk: string;
  /** Its disk's top layer, held while it runs. */
  top: string;
}

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
  private readonly layers: Layers;
  private readonly templates = new Map<string, Promise<string>>();
  /** Restored VMs ready to be handed out, per template key (qemu.pool_size). */
  private readonly pool: WarmPool<Booted>;

  constructor(
    private readonly config: Pick<Config, 'data_dir' | 'images_dir' | 'docker' | 'qemu'>,
    private readonly opts: { log: Logger; agentPath?: string },
  ) {
    this.vmRoot = path.join(config.data_dir, 'qemu');
    this.layers = new Layers(this.vmRoot);
    this.pool = new WarmPool<Booted>(
      { size: config.qemu.warm_start ? config.qemu.pool_size : 0, maxKeys: 4, idleMs: 600_000 },
      async (key) => {
        const dir = await this.templates.get(key) ?? path.join(this.vmRoot, 'templates', key);
        return this.boot(`pool_${randomBytes(8).toString('hex')}`, this.restorePlan(await readSnapshotMeta(dir), dir));
      },
      (b) => this.dispose(b),
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
    return { available: true, details };
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
    if (spec.network !== 'none') {
      throw new PaddockError('driver_unavailable', `driver qemu offers network none only for now (asked: ${spec.network})`, { driver: this.name });
    }
    checkId(spec.id);
    const cold = await this.coldPlan(spec);
    if (!this.config.qemu.warm_start) return this.adopt(spec, await this.boot(spec.id, cold.plan));
    const pooled = this.pool.take(cold.key);
    if (pooled) return this.adopt(spec, pooled);
    const template = await this.template(cold.key, cold.plan);
    return this.adopt(spec, await this.boot(spec.id, this.restorePlan(await readSnapshotMeta(template), template)));
  }

  /** How a sandbox of this spec boots, and the key of its warm-start template (every input of the plan). */
  private async coldPlan(spec: SandboxSpec): Promise<{ key: string; plan: PlanFn }> {
    const [boot, accel, base] = await Promise.all([this.bootFiles(), this.accelChoice(), this.rootDisk(spec.image ?? this.config.docker.default_image)]);
    const fixed = {
      boot,
      memoryMb: spec.limits.memory_mb + GUEST_OVERHEAD_MB,
      cpus: Math.max(1, Math.ceil(spec.limits.cpus)),
      accel: accel.accel,
      agentArgs: [`--run-as=${SANDBOX_UID}`, `--vm-tmpfs-mb=${spec.limits.disk_mb}`],
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

  private restorePlan(meta: VmSnapshotMeta, snapshotDir: string): PlanFn {
    const memory = shellSafe(path.join(snapshotDir, SNAPSHOT_MEMORY));
    return async (dir, disk) => {
      await createOverlay(meta.disk, disk, 'qcow2');
      return { ...meta.plan, dir, disk, incoming: `exec:cat ${memory}` };
    };
  }

  /**
   * A VM that goes on from a memory snapshot: the very command line it was taken with (QEMU
   * checks only -m), a new overlay on the snapshot's frozen disk layer, its memory loaded by
   * `-incoming`; then a new agent connection (the one in its memory is the parent's).
   */
  async restore(spec: SandboxSpec, snapshotDir: string): Promise<Sandbox> {
    checkId(spec.id);
    return this.adopt(spec, await this.boot(spec.id, this.restorePlan(await readSnapshotMeta(snapshotDir), snapshotDir)));
  }

  /**
   * The warm-start template of `key`: a VM booted once, its agent up and idle, snapshotted with its
   * memory into `templates/<key>` (kept across restarts; the newest MAX_TEMPLATES stay). Made once
   * per key however many ask at once.
   */
  private template(key: string, plan: PlanFn): Promise<string> {
    const dir = path.join(this.vmRoot, 'templates', key);
    let made = this.templates.get(key);
    if (!made) {
      made = (async () => {
        if (existsSync(path.join(dir, SNAPSHOT_META))) return dir;
        const vmId = `tpl_${key}_${process.pid}`;
        const booted = await this.boot(vmId, plan);
        const tmp = `${dir}.tmp-${process.pid}`;
        try {
          await rm(tmp, { recursive: true, force: true });
          await mkdir(tmp, { recursive: true, mode: 0o700 });
          const next = this.layers.path(vmId, 1);
          this.layers.hold(next);
          await snapshotVm({ plan: booted.vm.plan, qmp: booted.vm.qmp! }, booted.conn, booted.disk, next, tmp, { paused: false });
          await rename(tmp, dir);
          const meta = await readSnapshotMeta(dir);
          await this.layers.pin(dir, meta.disk);
          booted.top = next;
          return dir;
        } finally {
          await this.dispose(booted);
          await rm(tmp, { recursive: true, force: true });
          await this.pruneTemplates();
        }
      })().finally(() => this.templates.delete(key));
      this.templates.set(key, made);
    }
    return made;
  }

  private async pruneTemplates(): Promise<void> {
    const root = path.join(this.vmRoot, 'templates');
    const dirs = (await readdir(root).catch(() => [] as string[])).filter((n) => !n.includes('.tmp-'));
    if (dirs.length <= MAX_TEMPLATES) return;
    const aged = await Promise.all(dirs.map(async (n) => ({ n, at: (await stat(path.join(root, n))).mtimeMs })));
    for (const { n } of aged.sort((a, b) => a.at - b.at).slice(0, dirs.length - MAX_TEMPLATES)) {
      await rm(path.join(root, n), { recursive: true, force: true });
    }
  }

  /** Starts a VM named `vmId` (its dir, its disk layers) and connects to its agent. */
  private async boot(vmId: string, plan: PlanFn): Promise<Booted> {
    const dir = path.join(this.vmRoot, 'vms', vmId);
    await this.layers.init();
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const disk = this.layers.path(vmId, 0);
    this.layers.hold(disk);
    let vm: QemuVm | undefined;
    try {
      const p = await plan(dir, disk);
      const timeout = this.config.qemu.boot_timeout_ms;
      vm = await QemuVm.start(p, this.config.qemu.binary);
      if (p.incoming) await incomingDone(vm.qmp!, timeout);
      const conn = await vm.connectAgent(timeout).catch((err: Error) => {
        throw new PaddockError('driver_error', `the VM did not start its agent: ${err.message}${vm!.isDead ? '' : vm!.consoleSummary()}`);
      });
      return { vmId, dir, vm, conn, disk, top: disk };
    } catch (err) {
      await this.dispose({ dir, vm, top: disk });
      throw err;
    }
  }

  /** Kills a VM that is no sandbox's (a template's, a pooled one's, a failed start) and removes its files. */
  private async dispose(b: Pick<Booted, 'dir' | 'top'> & { vm?: QemuVm | undefined; conn?: Booted['conn'] }): Promise<void> {
    b.conn?.agent.close();
    b.vm?.kill();
    await b.vm?.exited;
    await this.releaseVm(b.dir, b.top);
  }

  private async releaseVm(dir: string, top: string): Promise<void> {
    await rm(dir, { recursive: true, force: true }).catch((err: Error) => this.opts.log.warn({ err, dir }, 'removing a VM dir failed'));
    this.layers.release(top);
    await this.layers.gc().catch((err: Error) => this.opts.log.warn({ err }, 'removing unused VM disk layers failed'));
  }

  private adopt(spec: SandboxSpec, b: Booted): QemuSandbox {
    const made: QemuSandbox = new QemuSandbox(spec.id, b.vmId, b.vm, b.conn, spec, this.layers, async () => {
      this.live.delete(made);
      await this.releaseVm(b.dir, made.top);
    });
    this.live.add(made);
    void made.died.then(() => made.destroy());
    return made;
  }

  /**
   * VMs a killed runner left: their QEMU died with it (PR_SET_PDEATHSIG), but not their dirs; a
   * QEMU still running from one (its pid file names a process whose command line names the dir)
   * is killed first.
   */
  async reapOrphans(): Promise<number> {
    const vms = path.join(this.vmRoot, 'vms');
    const entries = existsSync(vms) ? await readdir(vms) : [];
    let reaped = 0;
    for (const name of entries) {
      const dir = path.join(vms, name);
      const pid = Number((await readFile(path.join(dir, PID_FILE), 'utf8').catch(() => '')).trim());
      if (Number.isInteger(pid) && pid > 1) {
        const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
        if (cmdline.includes(dir)) {
          try {
            process.kill(pid, 'SIGKILL');
          } catch {
            // gone meanwhile
          }
        }
      }
      await rm(dir, { recursive: true, force: true });
      reaped++;
    }
    // The layers of those VMs; snapshots' stay (pinned).
    await this.layers.gc().catch((err: Error) => this.opts.log.warn({ err }, 'removing unused VM disk layers failed'));
    return reaped;
  }

  async close(): Promise<void> {
    await this.pool.drain();
    await Promise.all([...this.live].map((s) => s.destroy()));
  }
}
