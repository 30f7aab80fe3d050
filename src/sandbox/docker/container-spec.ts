import { readFileSync } from 'node:fs';
import type Dockerode from 'dockerode';
import type { Limits } from '../../config/schema.js';
import { type NetworkMode, WORK_DIR } from '../driver.js';
import { AGENT_IN_SANDBOX } from '../agent-binary.js';
import { LABELS } from './labels.js';

/**
 * The agent's own capabilities: SETUID/SETGID to start commands as the job's uid, KILL to
 * signal them, CHOWN/DAC_OVERRIDE/FOWNER to make and give the job the files it is handed
 * (/work is the job's own, 0755), SETPCAP to empty the bounding set of what it starts.
 */
export const AGENT_CAPS = ['SETUID', 'SETGID', 'KILL', 'CHOWN', 'DAC_OVERRIDE', 'FOWNER', 'SETPCAP'];

export interface ContainerPlan {
  image: string;
  runtime: 'runc' | 'runsc';
  limits: Limits;
  network: NetworkMode;
  /** The runner's firewalled bridge network (see network.ts); required with network `egress`. */
  egressNetwork?: string | undefined;
  labels: Record<string, string>;
  /** The container's own host uid (see uids.ts): the job runs as it, and it owns /work. */
  uid: number;
  /** Host path of the in-sandbox agent (src/sandbox/agent-binary.ts). */
  agentPath: string;
}

/**
 * The create-container request for one sandbox. Every default is the safe one:
 * the job non-root as the container's own uid, no network, no capabilities,
 * no new privileges, read-only root, size-capped tmpfs for /tmp and /work,
 * memory (no swap), pids, open files, CPU rate, and no Docker log (Paddock
 * reads the attached stream; a log would store whatever a job prints, uncapped).
 * The container's main process is the in-sandbox agent (docs/agent-protocol.md),
 * bind-mounted read-only, speaking over the attached stdin/stdout. It is PID 1
 * itself (no docker-init) and reaps. It runs as root with only what it needs to
 * start commands as the container's uid and to make files for them (AGENT_CAPS);
 * everything it starts runs as that uid with no capabilities and an empty bounding
 * set (`--run-as`). The job is then another user than the agent, so it can neither
 * signal, ptrace nor open /proc/1/* of it — on gVisor too, whose PID 1 a process of
 * the same uid can SIGKILL, and whose /proc/1/fd it can open, non-dumpable or not.
 */
/**
 * gVisor's own host threads (sentry, gofer) live in the container's pids cgroup: 44 with an
 * idle `sleep`, 116 under a shell loop of short pipelines, more with the agent forwarding
 * output (measured Dec 2026). So on runsc the job's `pids` gets this much on top, or an
 * ordinary script under the default 128 killed the whole sandbox.
 */
export const GVISOR_HOST_THREADS = 256;

/**
 * On gVisor's ptrace platform each guest process has a host stub with a thread for every sentry
 * thread that ever ran it (google/gvisor#3942), so a fork storm costs the host far more tasks than
 * it has processes: at its peak 1663 for 32 guest processes, over 5200 for 128 (2 cores, runsc
 * 20221219, Dec 2026). Whenever that reached the pids cgroup's limit, the sentry, a Go program,
 * could not make a thread and the whole sandbox died with status 2 — whatever the guest's own
 * limits. The guest's processes are bounded inside gVisor by RLIMIT_NPROC (sandbox.ts), so the
 * cgroup only has to bound the host's cost of them: this much per guest process, with margin.
 */
export const GVISOR_HOST_TASKS_PER_PROCESS = 64;

/**
 * The agent's own room in the pids cgroup, beyond the job's `pids`: its runtime threads (6-7 idle,
 * more while execs start) and the shim of an exec being started. The job's processes stop at
 * `pids` (RLIMIT_NPROC on its uid: the Ulimits below, and sandbox.ts), so this room is the agent's
 * alone. Without it a fork bomb filled the cgroup and the agent's next OS thread failed (EAGAIN):
 * the Go runtime treats that as fatal, and the whole sandbox died with status 2. As bwrap's AGENT_PIDS.
 */
export const AGENT_PIDS = 16;

/**
 * At most this share of the host's pids (kernel.pid_max) goes to one gVisor sandbox: a fork storm
 * in a few of them at once must not leave the host, the runner included, unable to fork. With
 * Debian's default pid_max of 32768 that is 4096 host tasks, about 80 guest processes in a storm.
 * Past it the sentry dies (status 2), as it did under any storm before GVISOR_HOST_TASKS_PER_PROCESS.
 */
export const GVISOR_PID_MAX_SHARE = 8;

let pidMax: number | undefined;
function hostPidMax(): number {
  if (pidMax === undefined) {
    try {
      pidMax = Number(readFileSync('/proc/sys/kernel/pid_max', 'utf8')) || 32768;
    } catch {
      pidMax = 32768;
    }
  }
  return pidMax;
}

/** The container's pids cgroup limit: the job's processes, the agent's room, and on gVisor the host's cost of them. */
export function containerPidsLimit(runtime: ContainerPlan['runtime'], pids: number, pidMax = hostPidMax()): number {
  const own = pids + AGENT_PIDS;
  if (runtime === 'runc') return own;
  return Math.max(GVISOR_HOST_THREADS + own, Math.min(GVISOR_HOST_THREADS + own * GVISOR_HOST_TASKS_PER_PROCESS, Math.floor(pidMax / GVISOR_PID_MAX_SHARE)));
}

export function containerCreateOptions(plan: ContainerPlan): Dockerode.ContainerCreateOptions {
  const mb = 1024 * 1024;
  const disk = plan.limits.disk_mb * mb;
  const memory = plan.limits.memory_mb * mb;
  const cpuSeconds = Math.ceil(plan.limits.cpu_ms / 1000);
  if (!Number.isInteger(plan.uid) || plan.uid <= 0) throw new Error(`bad container uid ${plan.uid}`);
  return {
    Image: plan.image,
    // The image's own entrypoint and command are never run: an Entrypoint given here drops the image's Cmd too.
    Entrypoint: [AGENT_IN_SANDBOX],
    Cmd: [`--run-as=${plan.uid}`],
    OpenStdin: true,
    // The attach is the agent's channel: when Paddock lets go of it, the agent reads EOF and the container ends.
    StdinOnce: true,
    AttachStdin: true,
    AttachStdout: true,
    AttachStderr: true,
    Tty: false,
    User: '0:0',
    WorkingDir: WORK_DIR,
    Labels: plan.labels,
    Env: [],
    NetworkDisabled: plan.network === 'none',
    HostConfig: {
      Runtime: plan.runtime,
      Init: false,
      Mounts: [{ Type: 'bind', Source: plan.agentPath, Target: AGENT_IN_SANDBOX, ReadOnly: true }],
      NetworkMode: plan.network === 'none' ? 'none' : egressNetworkOf(plan),
      // The egress bridge is IPv4-only: no link-local IPv6 either, which bridged traffic would carry past iptables.
      ...(plan.network === 'egress' ? { Sysctls: { 'net.ipv6.conf.all.disable_ipv6': '1', 'net.ipv6.conf.default.disable_ipv6': '1' } } : {}),
      ReadonlyRootfs: true,
      CapDrop: ['ALL'],
      CapAdd: AGENT_CAPS,
      SecurityOpt: ['no-new-privileges'],
      Tmpfs: {
        // `exec`: Docker mounts a tmpfs noexec unless told otherwise, and jobs run what they upload or build.
        '/tmp': `rw,exec,nosuid,nodev,size=${disk},mode=1777`,
        [WORK_DIR]: `rw,exec,nosuid,nodev,size=${disk},mode=0755,uid=${plan.uid},gid=${plan.uid}`,
        '/dev/shm': `rw,nosuid,nodev,noexec,size=${disk}`,
      },
      // Files in the tmpfs dirs are memory too and count here; no swap on top.
      Memory: memory,
      MemorySwap: memory,
      PidsLimit: containerPidsLimit(plan.runtime, plan.limits.pids),
      NanoCpus: Math.round(plan.limits.cpus * 1e9),
      LogConfig: { Type: 'none', Config: {} },
      // These bind the agent too (it forwards output, so it uses a little CPU of its own): with one
      // exec per container that is what a job may use. An exec's own limits (ExecRequest.limits) come
      // as the agent's exec `rlimits`, never looser than these (exec-limits.ts), so the command, which
      // cannot raise a hard limit, can always be given them.
      Ulimits: [
        { Name: 'nofile', Soft: plan.limits.open_files, Hard: plan.limits.open_files },
        { Name: 'cpu', Soft: cpuSeconds, Hard: cpuSeconds + 1 },
        { Name: 'core', Soft: 0, Hard: 0 },
        // RLIMIT_NPROC counts the tasks of the job's uid (the container's own). The agent is root,
        // whose forks and threads Linux does not hold to it, so this binds only what runs as the job,
        // at its fork or at the setuid of a command the agent starts (each exec also sets it on its
        // command, sandbox.ts), and the cgroup's room above `pids` stays the agent's (AGENT_PIDS).
        // Not on gVisor, whose sentry holds the agent to it too: there only the commands get it.
        ...(plan.runtime === 'runc' ? [{ Name: 'nproc', Soft: plan.limits.pids, Hard: plan.limits.pids }] : []),
      ],
      AutoRemove: false,
    },
  };
}

export function sandboxLabels(o: { runner: string; host: string; job?: string; pool?: string }): Record<string, string> {
  return {
    [LABELS.runner]: o.runner,
    [LABELS.host]: o.host,
    ...(o.job ? { [LABELS.job]: o.job } : {}),
    ...(o.pool ? { [LABELS.pool]: o.pool } : {}),
  };
}

function egressNetworkOf(plan: ContainerPlan): string {
  // Never a network without Paddock's firewall around it.
  if (!plan.egressNetwork) throw new Error('an egress container needs the runner\'s egress network');
  return plan.egressNetwork;
}
