import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { chown, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Writable } from 'node:stream';
import { PaddockError } from '../../errors.js';
import type { ExecRequest, ExecResult, OutputSink, Sandbox, SandboxSpec } from '../driver.js';
import { inheritableFds } from '../../util/fds.js';
import { signalOfExitCode } from '../signals.js';
import { bwrapArgs } from './args.js';
import { buildChain, parseRusage } from './chain.js';
import type { CgroupV1 } from './cgroup.js';
import { BLOCK_FD, killMarked, Run, STATUS_FD } from './run.js';

export interface BwrapHost {
  bwrap: string;
  etcDir: string;
  sandboxesDir: string;
  /** This sandbox's own host uid/gid (from the driver's UidRange), when Paddock is root. */
  hostUser?: { uid: number; gid: number } | undefined;
  /** Gives hostUser back to the range; called once, at destroy. */
  releaseUser?: (() => void) | undefined;
  /** The compiled seccomp filter; every sandbox runs under it. */
  seccompFile: string;
  cgroup?: CgroupV1 | undefined;
  timeBin?: string | undefined;
  rootfs?: string | undefined;
}

const SECCOMP_FD = 5;
const MARKER = 'PADDOCK_SANDBOX';
const FIRST_FILE_FD = 6;
const CPU_POLL_MS = 100;
const FD_SCAN_INTERVAL_MS = 1000;
let lastFdScan = 0;

/** One bwrap sandbox: host-side state is created up front, the namespace exists only during exec. */
export class BwrapSandbox implements Sandbox {
  private used = false;
  private destroyed = false;
  private readonly dir: string;

  constructor(
    readonly id: string,
    private readonly spec: SandboxSpec,
    private readonly host: BwrapHost,
  ) {
    this.dir = path.join(host.sandboxesDir, id);
  }

  /** Input files are staged there, and GNU time writes rusage there when no cgroup reports it. */
  private get needsDir(): boolean {
    return this.spec.files.length > 0 || (!this.host.cgroup && Boolean(this.host.timeBin));
  }

  /** Host-side state: a private dir only when something must be staged in it (the cgroup is made in exec). */
  async prepare(): Promise<void> {
    if (this.needsDir) {
      await mkdir(this.dir, { recursive: true, mode: 0o700 });
      if (this.host.hostUser) await chown(this.dir, this.host.hostUser.uid, this.host.hostUser.gid);
    }
  }

  /** The sandbox's cgroup, with its limits set; undefined when made, else why not. */
  private createCgroup(cgroup: CgroupV1): Error | undefined {
    try {
      cgroup.create(this.id, {
        // Files the job keeps in its tmpfs dirs are memory too and count here, as in Docker.
        memoryBytes: this.spec.limits.memory_mb * 1024 * 1024,
        pids: this.spec.limits.pids,
        cpus: this.spec.limits.cpus,
      });
      return undefined;
    } catch (err) {
      return err as Error;
    }
  }

  async exec(req: ExecRequest, sink: OutputSink, signal: AbortSignal): Promise<ExecResult> {
    if (this.destroyed) throw new PaddockError('driver_error', `sandbox ${this.id} is destroyed`);
    if (this.used) throw new PaddockError('driver_error', 'bwrap sandboxes run one command each');
    this.used = true;

    // Defence in depth: serve closed what it inherited at start (src/util/fds.ts), and
    // all Paddock opens is close-on-exec; an fd that is not would reach the job. The scan
    // reads one /proc file per open fd (~10 µs each), so with many connections open it
    // runs at most once a second; a leak that stays is still caught on the next jobs.
    const now = Date.now();
    const leaked = now - lastFdScan >= FD_SCAN_INTERVAL_MS ? ((lastFdScan = now), inheritableFds()) : [];
    if (leaked.length) {
      lastFdScan = 0;
      throw new PaddockError('driver_error', `refusing to start a sandbox: the runner holds ${leaked.length} fd(s) that are not close-on-exec`);
    }
    const staged = await this.stageFiles();
    let seccompFd: number;
    try {
      // Opened per exec: bwrap reads the filter to its end, from a file offset shared with us.
      seccompFd = openSync(this.host.seccompFile, 'r');
    } catch (err) {
      for (const fd of staged) closeSync(fd);
      throw new PaddockError('driver_error', `cannot read the seccomp filter: ${(err as Error).message}`);
    }
    const fileFds = [seccompFd, ...staged];
    const rusageFile = path.join(this.dir, 'rusage');
    const args = bwrapArgs(this.spec, req, {
      rootfs: this.host.rootfs,
      etcDir: this.host.etcDir,
      statusFd: STATUS_FD,
      blockFd: this.host.cgroup ? BLOCK_FD : undefined,
      seccompFd: SECCOMP_FD,
      fileFds: staged.map((_, i) => FIRST_FILE_FD + i),
    });
    const chain = buildChain(args, {
      bwrap: this.host.bwrap,
      limits: this.spec.limits,
      hostUser: this.host.hostUser,
      cgroups: Boolean(this.host.cgroup),
      timeBin: this.host.timeBin,
      rusageFile,
    });

    const started = performance.now();
    let child: ChildProcess;
    try {
      child = spawn(chain.file, chain.args, {
        cwd: '/',
        // bwrap keeps this env until it execs the command (--clearenv): nothing of the host's,
        // and a marker by which a child bwrap orphaned before reporting it can be found.
        env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', [MARKER]: this.id },
        // No stdin: /dev/null rather than a pipe we would close at once (one socketpair less per job).
        // The block fd is only needed to hold the command until it is in its cgroup.
        stdio: [
          req.stdin?.length ? 'pipe' : 'ignore',
          'pipe',
          'pipe',
          'pipe',
          this.host.cgroup ? 'pipe' : 'ignore',
          ...fileFds,
        ],
        ...(chain.uid !== undefined ? { uid: chain.uid, gid: chain.gid } : {}),
      });
    } finally {
      for (const fd of fileFds) closeSync(fd);
    }
    const run = new Run(child, this.spec.limits.output_bytes, sink);
    run.onLostChild = () => killMarked(`${MARKER}=${this.id}`, chain.uid ?? process.getuid?.() ?? 0);
    const cgroup = this.host.cgroup;
    // Made while bwrap starts up (on another core) rather than before the spawn, where it
    // added to every job's latency: nothing runs in the sandbox before it is entered (block fd).
    const cgroupError = cgroup && this.createCgroup(cgroup);
    if (cgroupError) run.abort('cgroup_setup', () => cgroup?.killAll(this.id));
    const onAbort = () => run.abort(String(signal.reason ?? 'aborted'), () => this.host.cgroup?.killAll(this.id));
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });

    run.onChildPid = cgroup
      ? async (pid) => {
          await cgroup.enter(this.id, pid);
          (child.stdio[BLOCK_FD] as Writable).end('go');
        }
      : undefined;
    if (req.stdin?.length) (child.stdin as Writable).end(req.stdin);

    // RLIMIT_CPU bounds each process; the cgroup counts the whole tree, so a job
    // cannot dodge cpu_ms by spreading work over many short-lived processes.
    let cpuExceeded = false;
    const watchdog = cgroup
      ? setInterval(() => {
          const { cpuMs } = cgroup.stats(this.id);
          if (cpuExceeded || run.abortedReason || cpuMs === null || cpuMs < this.spec.limits.cpu_ms) return;
          cpuExceeded = true;
          run.abort('cpu_limit', () => cgroup.killAll(this.id));
        }, CPU_POLL_MS)
      : undefined;

    const exit = await run.done;
    clearInterval(watchdog);
    signal.removeEventListener('abort', onAbort);
    const wallMs = Math.round(performance.now() - started);

    if (exit.spawnError) throw new PaddockError('driver_error', `cannot start bwrap: ${exit.spawnError.message}`);
    if (cgroupError) throw new PaddockError('driver_error', `cannot set up the sandbox's cgroup: ${cgroupError.message}`);
    // bwrap runs under the job's rlimits: out of fds (EMFILE, errno 24; ld.so says "Error 24")
    // before its sandbox existed, the job's open_files is what is too small. bwrap holds
    // the fds we pass (one per input file among them) plus five of its own.
    if (!run.started && /Too many open files|: Error 24$/m.test(run.stderr.text())) {
      throw new PaddockError(
        'limit_too_small',
        `limits.open_files = ${this.spec.limits.open_files} is too small for driver bwrap to start this sandbox ` +
          `(${this.spec.files.length} input file(s)): ${run.stderr.text().trim().split('\n').at(-1)}`,
        { field: 'limits.open_files', driver: 'bwrap' },
      );
    }
    let cpuMs: number | null = null;
    let maxRssKb: number | null = null;
    let oom = false;
    if (cgroup) {
      const stats = cgroup.stats(this.id);
      ({ cpuMs, maxRssKb } = stats);
      oom = stats.oomKilled;
    } else if (this.host.timeBin) {
      const usage = parseRusage(await readFile(rusageFile, 'utf8').catch(() => ''));
      cpuMs = usage?.cpuMs ?? null;
      maxRssKb = usage?.maxRssKb ?? null;
    }
    // bwrap reports a command killed by signal N as exit code 128+N, like a shell.
    const signalName = exit.signal ?? signalOfExitCode(exit.code);
    const cpuLimitHit =
      signalName === 'SIGXCPU' ||
      cpuExceeded ||
      // Without a cgroup, RLIMIT_CPU's hard limit ends a process that ignored SIGXCPU.
      (signalName === 'SIGKILL' && !run.abortedReason && cpuMs !== null && cpuMs >= this.spec.limits.cpu_ms);
    return {
      exitCode: exit.signal ? null : exit.code,
      signal: signalName,
      stdout: run.stdout.text(),
      stderr: run.stderr.text(),
      stdoutTruncated: run.stdout.truncated,
      stderrTruncated: run.stderr.truncated,
      wallMs,
      cpuMs,
      maxRssKb,
      limit: oom
        ? 'memory'
        : cpuLimitHit
          ? 'cpu'
          : // We closed its pipe at the cap, so the writer died of SIGPIPE.
            signalName === 'SIGPIPE' && (run.stdout.truncated || run.stderr.truncated)
            ? 'output'
            : undefined,
      aborted: cpuExceeded ? undefined : run.abortedReason,
    };
  }

  /** Writes each input file to the host dir and opens it; bwrap copies it into the tmpfs. */
  private async stageFiles(): Promise<number[]> {
    const fds: number[] = [];
    for (const [i, file] of this.spec.files.entries()) {
      const staged = path.join(this.dir, `in-${i}`);
      await writeFile(staged, file.content, { mode: 0o600 });
      fds.push(openSync(staged, 'r'));
    }
    return fds;
  }

  async destroy(): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    this.host.cgroup?.destroy(this.id);
    if (this.needsDir) await rm(this.dir, { recursive: true, force: true }).catch(() => undefined);
    this.host.releaseUser?.();
  }
}
