import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmdirSync, write, writeFileSync } from 'node:fs';
import { rmdir } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';

const writeFd = promisify(write);

const ROOT = '/sys/fs/cgroup';
const CONTROLLERS = ['memory', 'pids', 'cpuacct'] as const;
/** The CPU rate (limits.cpus) is a CFS quota per period; optional, doctor says when it is missing. */
const CPU = 'cpu';
const CFS_PERIOD_US = 100_000;
/** The v1 freezer, for pause/resume; optional as well (capabilities.pause says whether it is there). */
const FREEZER = 'freezer';
const FREEZE_POLL_MS = 2;
const FREEZE_TIMEOUT_MS = 5000;

export interface CgroupStats {
  cpuMs: number | null;
  maxRssKb: number | null;
  oomKilled: boolean;
  /** OOM kills so far (failed charges on kernels without the counter), to tell one exec's from an earlier one's. */
  oomKills: number;
}

/**
 * Per-sandbox cgroup v1 directories (memory, pids, cpuacct), used when Paddock
 * runs as root. Unlike rlimits these bound the whole process tree, count real
 * memory, and tell an OOM kill apart from other deaths. `group` names this
 * runner's parent so that a reaper only ever touches what this runner made.
 *
 * Most cgroupfs calls are synchronous on purpose: they touch no disk and take
 * microseconds, less than a trip through libuv's thread pool. Moving a process
 * (`enter`) is the exception: it can wait out an RCU grace period (milliseconds),
 * so it goes to the thread pool rather than stall every other job. Its files are
 * opened at `create`, so `enter` is one write per controller, all at once, instead
 * of writeFile's open, write and close in turn: that trip is on every job's
 * critical path (the command waits on bwrap's block fd meanwhile).
 */
export class CgroupV1 {
  /** Whether the `cpu` controller is mounted, so jobs can be bounded by rate. */
  readonly cpuRate: boolean;
  /** Whether the freezer controller is mounted, so sandboxes can be paused. */
  readonly freezer: boolean;
  private readonly controllers: readonly string[];
  /** Open cgroup.procs files (close-on-exec) per sandbox, from `create` until `enter` or `destroy`. */
  private readonly procsFds = new Map<string, number[]>();
  /** Sandboxes frozen (or being frozen) by setFrozen. */
  private readonly frozen = new Set<string>();

  constructor(private readonly group: string) {
    this.cpuRate = CgroupV1.cpuRateAvailable();
    this.freezer = existsSync(path.join(ROOT, FREEZER, 'freezer.state')) || existsSync(path.join(ROOT, FREEZER, 'cgroup.procs'));
    this.controllers = [...CONTROLLERS, ...(this.cpuRate ? [CPU] : []), ...(this.freezer ? [FREEZER] : [])];
  }

  static cpuRateAvailable(): boolean {
    return existsSync(path.join(ROOT, CPU, 'cpu.cfs_quota_us'));
  }

  /** Why cgroups cannot be used here, or undefined when they can. */
  static unavailableReason(): string | undefined {
    if (process.getuid?.() !== 0) return 'not running as root';
    if (existsSync(path.join(ROOT, 'cgroup.controllers'))) return 'cgroup v2 is not supported yet (rlimits are used)';
    const missing = CONTROLLERS.filter((c) => !existsSync(path.join(ROOT, c, 'cgroup.procs')));
    if (missing.length) return `cgroup v1 controllers missing: ${missing.join(', ')}`;
    return undefined;
  }

  private dir(controller: string, id?: string): string {
    return id ? path.join(ROOT, controller, this.group, id) : path.join(ROOT, controller, this.group);
  }

  create(id: string, limits: { memoryBytes: number; pids: number; cpus: number }): void {
    for (const c of this.controllers) mkdirSync(this.dir(c, id), { recursive: true });
    const mem = this.dir('memory', id);
    writeFileSync(path.join(mem, 'memory.limit_in_bytes'), String(limits.memoryBytes));
    // With swap accounting on, also stop the job from swapping past the limit.
    const memsw = path.join(mem, 'memory.memsw.limit_in_bytes');
    if (existsSync(memsw)) writeFileSync(memsw, String(limits.memoryBytes));
    writeFileSync(path.join(this.dir('pids', id), 'pids.max'), String(limits.pids));
    if (this.cpuRate) {
      // cpus cores' worth of time per period for the whole tree (the kernel's minimum quota is 1 ms).
      const cpu = this.dir(CPU, id);
      writeFileSync(path.join(cpu, 'cpu.cfs_period_us'), String(CFS_PERIOD_US));
      writeFileSync(path.join(cpu, 'cpu.cfs_quota_us'), String(Math.max(1000, Math.round(limits.cpus * CFS_PERIOD_US))));
    }
    const fds: number[] = [];
    this.procsFds.set(id, fds);
    for (const c of this.controllers) fds.push(openSync(path.join(this.dir(c, id), 'cgroup.procs'), 'w'));
  }

  /** Moves `pid` into the sandbox's cgroups; once per sandbox. */
  async enter(id: string, pid: number): Promise<void> {
    const fds = this.procsFds.get(id);
    if (!fds) throw new Error(`cgroup ${id}: not created, or already entered`);
    this.procsFds.delete(id);
    try {
      await Promise.all(fds.map((fd) => writeFd(fd, String(pid))));
    } finally {
      for (const fd of fds) closeSync(fd);
    }
  }

  private closeProcsFds(id: string): void {
    for (const fd of this.procsFds.get(id) ?? []) closeSync(fd);
    this.procsFds.delete(id);
  }

  stats(id: string): CgroupStats {
    const read = (c: string, f: string) => {
      try {
        return readFileSync(path.join(this.dir(c, id), f), 'utf8');
      } catch {
        return '';
      }
    };
    const usage = read('cpuacct', 'cpuacct.usage');
    const maxUsage = read('memory', 'memory.max_usage_in_bytes');
    const oomControl = read('memory', 'memory.oom_control');
    // Older kernels lack the oom_kill counter; a failed charge is the next best sign.
    const kills = /oom_kill /.test(oomControl) ? Number(/oom_kill (\d+)/.exec(oomControl)?.[1] ?? 0) : Number(read('memory', 'memory.failcnt')) || 0;
    return {
      cpuMs: usage ? Math.round(Number(usage) / 1e6) : null,
      maxRssKb: maxUsage ? Math.round(Number(maxUsage) / 1024) : null,
      oomKilled: kills > 0,
      oomKills: kills,
    };
  }

  /** Freezes (`FROZEN`) or thaws (`THAWED`) every process of the sandbox, waiting until the kernel has. */
  async setFrozen(id: string, frozen: boolean): Promise<void> {
    if (!this.freezer) throw new Error('the cgroup v1 freezer is not mounted');
    const file = path.join(this.dir(FREEZER, id), 'freezer.state');
    const want = frozen ? 'FROZEN' : 'THAWED';
    if (frozen) this.frozen.add(id);
    writeFileSync(file, want);
    if (!frozen) this.frozen.delete(id);
    // FREEZING until every task has stopped (a task in an uninterruptible sleep takes a moment).
    for (const deadline = Date.now() + FREEZE_TIMEOUT_MS; readFileSync(file, 'utf8').trim() !== want; ) {
      if (Date.now() > deadline) throw new Error(`cgroup ${id} did not become ${want} within ${FREEZE_TIMEOUT_MS} ms`);
      await new Promise((r) => setTimeout(r, FREEZE_POLL_MS));
    }
  }

  /** A frozen task dies of SIGKILL only once thawed: so a sandbox being killed is thawed first. */
  thaw(id: string): void {
    if (!this.frozen.delete(id)) return;
    try {
      writeFileSync(path.join(this.dir(FREEZER, id), 'freezer.state'), 'THAWED');
    } catch {
      // No such cgroup (any more).
    }
  }

  /** SIGKILLs every process in the sandbox's cgroup; returns how many it signalled. */
  killAll(id: string): number {
    this.thaw(id);
    let procs = '';
    try {
      procs = readFileSync(path.join(this.dir('pids', id), 'cgroup.procs'), 'utf8');
    } catch {
      return 0;
    }
    let killed = 0;
    for (const pid of procs.split('\n').filter(Boolean)) {
      try {
        process.kill(Number(pid), 'SIGKILL');
        killed++;
      } catch {
        // Already gone.
      }
    }
    return killed;
  }

  /**
   * Kills what is left and removes the directories. A cgroup stays busy for a
   * moment while the kernel reaps its last tasks, so removal is retried in the
   * background with a short backoff instead of holding up the job's result;
   * anything still there at the next start is removed by the reaper.
   */
  destroy(id: string): void {
    this.closeProcsFds(id);
    // rmdir of a memory cgroup can take milliseconds: off this thread, through libuv's pool.
    const attempt = async (n: number): Promise<void> => {
      this.killAll(id);
      const left = await Promise.all(this.controllers.map((c) => rmdir(this.dir(c, id)).then(() => 0, (err: NodeJS.ErrnoException) => (err.code === 'ENOENT' ? 0 : 1))));
      if (left.every((x) => x === 0) || n >= 12) return;
      setTimeout(() => void attempt(n + 1), 2 ** n).unref();
    };
    void attempt(0);
  }

  /** Removes every controller's directory; true when none is left. */
  private tryRemove(id: string): boolean {
    let left = 0;
    for (const c of this.controllers) {
      try {
        rmdirSync(this.dir(c, id));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') left++;
      }
    }
    return left === 0;
  }

  /** Start-up only: kills and removes a leftover cgroup, waiting until it is gone. */
  async reap(id: string): Promise<void> {
    for (let n = 0; n < 100 && !(this.killAll(id), this.tryRemove(id)); n++) {
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  /** Removes this runner's parent groups once their sandboxes are gone (at shutdown). */
  async removeGroup(): Promise<void> {
    for (let n = 0; n < 50; n++) {
      for (const id of this.list()) this.tryRemove(id);
      let left = 0;
      for (const c of this.controllers) {
        try {
          rmdirSync(this.dir(c));
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'ENOENT') left++;
        }
      }
      if (left === 0) return;
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  /** Sandbox ids with a cgroup under this runner's group (for the orphan reaper). */
  list(): string[] {
    try {
      return readdirSync(this.dir('pids'), { withFileTypes: true })
        .filter((d) => d.isDirectory())
        .map((d) => d.name);
    } catch {
      return [];
    }
  }
}
