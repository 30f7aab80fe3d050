import type Dockerode from 'dockerode';
import type { Limits } from '../../config/schema.js';
import { type NetworkMode, WORK_DIR } from '../driver.js';
import { LABELS } from './labels.js';
import { launcher, type LauncherKind } from './launch.js';


export interface ContainerPlan {
  image: string;
  runtime: 'runc' | 'runsc';
  limits: Limits;
  network: NetworkMode;
  /** The runner's firewalled bridge network (see network.ts); required with network `egress`. */
  egressNetwork?: string | undefined;
  labels: Record<string, string>;
  /** The container's own host uid (see uids.ts): the job runs as it, and owns /work. */
  uid: number;
  /** `dropping` starts as root with setuid capabilities only, to run the job as `uid` (see launch.ts). */
  launcher: LauncherKind;
  /** docker-init as pid 1 reaps orphans; absent on some Engine builds. */
  init: boolean;
}

/**
 * The create-container request for one sandbox. Every default is the safe one:
 * the job non-root as the container's own uid, no network, no capabilities,
 * no new privileges, read-only root, size-capped tmpfs for /tmp and /work,
 * memory (no swap), pids, open files, CPU rate, and no Docker log (Paddock
 * reads the attached stream; a log would store whatever a job prints, uncapped).
 * The container's main process is the launcher, waiting on its attached stdin
 * for the one job it will run (see launch.ts).
 */
export function containerCreateOptions(plan: ContainerPlan): Dockerode.ContainerCreateOptions {
  const mb = 1024 * 1024;
  const disk = plan.limits.disk_mb * mb;
  const memory = plan.limits.memory_mb * mb;
  const cpuSeconds = Math.ceil(plan.limits.cpu_ms / 1000);
  const dropping = plan.launcher === 'dropping';
  return {
    Image: plan.image,
    Cmd: ['/bin/sh', '-c', launcher(plan.launcher, plan.uid)],
    OpenStdin: true,
    StdinOnce: true,
    AttachStdin: true,
    AttachStdout: true,
    AttachStderr: true,
    Tty: false,
    User: dropping ? '0:0' : `${plan.uid}:${plan.uid}`,
    WorkingDir: WORK_DIR,
    Labels: plan.labels,
    Env: ['HOME=/work', 'TMPDIR=/tmp'],
    NetworkDisabled: plan.network === 'none',
    HostConfig: {
      Runtime: plan.runtime,
      Init: plan.init,
      NetworkMode: plan.network === 'none' ? 'none' : egressNetworkOf(plan),
      // The egress bridge is IPv4-only: no link-local IPv6 either, which bridged traffic would carry past iptables.
      ...(plan.network === 'egress' ? { Sysctls: { 'net.ipv6.conf.all.disable_ipv6': '1', 'net.ipv6.conf.default.disable_ipv6': '1' } } : {}),
      ReadonlyRootfs: true,
      CapDrop: ['ALL'],
      // Only for the launcher to become the job's uid; setpriv empties the job's sets, bounding set included.
      ...(dropping ? { CapAdd: ['SETUID', 'SETGID', 'SETPCAP'] } : {}),
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
      PidsLimit: plan.limits.pids,
      NanoCpus: Math.round(plan.limits.cpus * 1e9),
      LogConfig: { Type: 'none', Config: {} },
      Ulimits: [
        { Name: 'nofile', Soft: plan.limits.open_files, Hard: plan.limits.open_files },
        { Name: 'cpu', Soft: cpuSeconds, Hard: cpuSeconds + 1 },
        { Name: 'core', Soft: 0, Hard: 0 },
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
