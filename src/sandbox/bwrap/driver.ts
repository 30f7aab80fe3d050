import { execFile } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { chmod, mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Config, Limits } from '../../config/schema.js';
import { PaddockError } from '../../errors.js';
import {
  type DriverAvailability,
  type DriverCapabilities,
  type Sandbox,
  type SandboxDriver,
  type SandboxSpec,
  WORK_DIR,
} from '../driver.js';
import { closeInheritedFds } from '../../util/fds.js';
import { cgroupGroup } from '../runner-id.js';
import { SANDBOX_UID } from './args.js';
import { CgroupV1 } from './cgroup.js';
import { type BwrapHost, BwrapSandbox } from './sandbox.js';
import { buildSeccompFilter, type SeccompFilter } from './seccomp.js';
import { UidRange } from '../uid-range.js';

const run = promisify(execFile);

/**
 * Namespaces via bubblewrap: no daemon, ~4 ms per sandbox, works for an
 * unprivileged user. Root filesystem is the host's /usr (read-only) or an image rootfs.
 */
export class BwrapDriver implements SandboxDriver {
  readonly name = 'bwrap';
  readonly capabilities: DriverCapabilities = {
    isolation: 'namespaces',
    strength: 10,
    network: ['none'],
    images: true,
    persistent: false,
    snapshot: false,
    fork: false,
  };
  /**
   * Measured on Debian 12 (kernel 6.18, bwrap 0.8.0) by starting `/bin/echo ok` with one limit
   * lowered at a time: with cgroups it starts under pids 1 and memory_mb 1; with rlimits only
   * (RLIMIT_AS/NPROC bind GNU time and bwrap themselves) it needs pids 3 and starts under
   * memory_mb 4. Memory is floored at 4/8 for headroom.
   * open_files bounds bwrap too: it holds stdio, the fds we pass (status, block or GNU time's
   * output, seccomp, one per input file) and five of its own while it starts, so 11 without
   * input files; below that, or with input files past it, exec fails promptly with
   * limit_too_small (sandbox.ts). disk_mb and cpu_ms start with 1.
   */
  readonly minLimits: Partial<Limits>;
  private readonly host: Omit<BwrapHost, 'seccompFile'>;
  private readonly imagesDir: string;
  private readonly uids: UidRange | undefined;
  private cgroupNote: string;
  private prepared = false;
  private seccomp: Promise<SeccompFilter> | undefined;

  constructor(private readonly config: Pick<Config, 'data_dir' | 'images_dir' | 'sandbox' | 'max_concurrent_jobs'>) {
    // `paddock serve` did this first thing (src/cli/main.ts); in-process runners (tests,
    // benches) start here. Every exec then refuses if an inheritable fd shows up again.
    closeInheritedFds();
    const root = process.getuid?.() === 0;
    const group = cgroupGroup(config.data_dir);
    const cgroupReason = config.sandbox.cgroups === 'off' ? 'disabled by config' : CgroupV1.unavailableReason();
    this.cgroupNote = cgroupReason ? `off (${cgroupReason})` : `v1 (${group})`;
    this.host = {
      bwrap: config.sandbox.bwrap_path,
      etcDir: path.join(config.data_dir, 'bwrap', 'etc'),
      sandboxesDir: path.join(config.data_dir, 'sandboxes'),
      cgroup: cgroupReason ? undefined : new CgroupV1(group),
      timeBin: existsSync('/usr/bin/time') ? '/usr/bin/time' : undefined,
    };
    this.imagesDir = config.images_dir;
    this.uids = root ? new UidRange(config.sandbox.uid_range_start, config.sandbox.uid_range_size, 'sandbox.uid_range_*') : undefined;
    this.minLimits = this.host.cgroup
      ? { pids: 1, memory_mb: 4, open_files: 11, disk_mb: 1, cpu_ms: 1 }
      : { pids: 3, memory_mb: 8, open_files: 11, disk_mb: 1, cpu_ms: 1 };
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
    const details: Record<string, string> = { cgroups: this.cgroupNote };
    try {
      const { stdout } = await run(this.host.bwrap, ['--version']);
      details.version = stdout.trim();
    } catch {
      return { available: false, reason: `${this.host.bwrap} not found (apt-get install bubblewrap)`, details };
    }
    details.host_uids = this.uids
      ? `${this.uids.start}-${this.uids.end}, one per running sandbox` +
        (this.uids.size < this.config.max_concurrent_jobs ? ` (fewer than max_concurrent_jobs: raise sandbox.uid_range_size)` : '')
      : "off (not root: sandboxes run as the runner's uid and share its per-user limits)";
    details.cpu_rate = !this.host.cgroup
      ? 'off (no cgroups: limits.cpus is not enforced, cpu_ms still is)'
      : this.host.cgroup.cpuRate
        ? 'cgroup v1 cpu quota (limits.cpus)'
        : 'off (cgroup v1 cpu controller not mounted: limits.cpus is not enforced)';
    details.rusage = this.host.cgroup ? 'cgroup' : this.host.timeBin ? 'GNU time' : 'none (apt-get install time)';
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
    const sandbox = await this.create({
      id: `probe-${process.pid}-${Date.now()}`,
      network: 'none',
      files: [],
      limits: { timeout_ms: 5000, memory_mb: 64, cpu_ms: 5000, pids: 16, output_bytes: 1024, disk_mb: 1, open_files: 64, cpus: 1 },
    });
    try {
      const ac = new AbortController();
      const timer = setTimeout(() => ac.abort('timeout'), 5000);
      const result = await sandbox.exec({ argv: ['/bin/echo', 'ok'], cwd: WORK_DIR, env: {} }, () => undefined, ac.signal);
      clearTimeout(timer);
      return result;
    } finally {
      await sandbox.destroy();
    }
  }

  async create(spec: SandboxSpec): Promise<Sandbox> {
    if (spec.network !== 'none') {
      throw new PaddockError('driver_unavailable', `driver bwrap supports network "none" only, not "${spec.network}"`, {
        driver: this.name,
      });
    }
    await this.prepareHost();
    const { file: seccompFile } = await this.seccompFilter();
    const rootfs = spec.image ? this.resolveImage(spec.image) : undefined;
    const uids = this.uids;
    const uid = uids?.take();
    const sandbox = new BwrapSandbox(spec.id, spec, {
      ...this.host,
      rootfs,
      seccompFile,
      hostUser: uid === undefined ? undefined : { uid, gid: uid },
      releaseUser: uid === undefined ? undefined : () => uids?.release(uid),
    });
    try {
      await sandbox.prepare();
    } catch (err) {
      await sandbox.destroy();
      throw err;
    }
    return sandbox;
  }

  async checkImage(image: string): Promise<void> {
    this.resolveImage(image);
  }

  private resolveImage(image: string): string {
    const rootfs = path.join(this.imagesDir, image, 'rootfs');
    if (/^[a-z0-9][a-z0-9._-]*$/i.test(image) && existsSync(rootfs)) return rootfs;
    // Only complete images: dot-entries are the image builder's work dirs and locks.
    const known = existsSync(this.imagesDir)
      ? readdirSync(this.imagesDir).filter((n) => !n.startsWith('.') && existsSync(path.join(this.imagesDir, n, 'rootfs')))
      : [];
    throw new PaddockError('image_not_found', `image "${image}" not found for driver bwrap`, { image, available: known });
  }

  /** Synthesized /etc files and the sandboxes dir. */
  private async prepareHost(): Promise<void> {
    if (this.prepared) return;
    this.prepared = true;
    await mkdir(this.host.etcDir, { recursive: true, mode: 0o755 });
    const files: Record<string, string> = {
      passwd: `root:x:0:0:root:/root:/usr/sbin/nologin\nsandbox:x:${SANDBOX_UID}:${SANDBOX_UID}:sandbox:${WORK_DIR}:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n`,
      group: `root:x:0:\nsandbox:x:${SANDBOX_UID}:\nnogroup:x:65534:\n`,
      hosts: '127.0.0.1 localhost sandbox\n::1 localhost\n',
      hostname: 'sandbox\n',
    };
    for (const [name, text] of Object.entries(files)) {
      const file = path.join(this.host.etcDir, name);
      await writeFile(file, text);
      await chmod(file, 0o644);
    }
    // Paths bwrap opens as the sandbox host user must be traversable (not listable).
    for (const dir of [this.config.data_dir, path.dirname(this.host.etcDir), this.host.etcDir]) {
      await chmod(dir, dir === this.host.etcDir ? 0o755 : 0o711);
    }
    await mkdir(this.host.sandboxesDir, { recursive: true, mode: 0o711 });
  }

  async close(): Promise<void> {
    await this.host.cgroup?.removeGroup();
  }

  /** Removes sandboxes a previous process of this runner left behind. Only a starting runner may call it. */
  async reapOrphans(): Promise<number> {
    await this.prepareHost();
    let reaped = 0;
    for (const id of this.host.cgroup?.list() ?? []) {
      await this.host.cgroup?.reap(id);
      reaped++;
    }
    await rm(this.host.sandboxesDir, { recursive: true, force: true });
    await mkdir(this.host.sandboxesDir, { recursive: true, mode: 0o711 });
    await chmod(this.host.sandboxesDir, 0o711);
    return reaped;
  }
}
