import type Dockerode from 'dockerode';
import type { Limits } from '../../config/schema.js';
import { type NetworkMode, WORK_DIR } from '../driver.js';
import { LABELS } from './labels.js';
import { LAUNCHER } from './launch.js';

export const SANDBOX_USER = '10001:10001';

export interface ContainerPlan {
  image: string;
  runtime: 'runc' | 'runsc';
  limits: Limits;
  network: NetworkMode;
  /** The runner's firewalled bridge network (see network.ts); required with network `egress`. */
  egressNetwork?: string | undefined;
  labels: Record<string, string>;
  /** docker-init as pid 1 reaps orphans; absent on some Engine builds. */
  init: boolean;
}

/**
 * The create-container request for one sandbox. Every default is the safe one:
 * non-root, no network, no capabilities, no new privileges, read-only root,
 * size-capped tmpfs for /tmp and /work, memory (no swap), pids, open files.
 * The container's main process is the launcher, waiting on its attached stdin
 * for the one job it will run (see launch.ts).
 */
export function containerCreateOptions(plan: ContainerPlan): Dockerode.ContainerCreateOptions {
  const mb = 1024 * 1024;
  const disk = plan.limits.disk_mb * mb;
  const memory = plan.limits.memory_mb * mb;
  const cpuSeconds = Math.ceil(plan.limits.cpu_ms / 1000);
  return {
    Image: plan.image,
    Cmd: ['/bin/sh', '-c', LAUNCHER],
    OpenStdin: true,
    StdinOnce: true,
    AttachStdin: true,
    AttachStdout: true,
    AttachStderr: true,
    Tty: false,
    User: SANDBOX_USER,
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
      SecurityOpt: ['no-new-privileges'],
      Tmpfs: {
        // `exec`: Docker mounts a tmpfs noexec unless told otherwise, and jobs run what they upload or build.
        '/tmp': `rw,exec,nosuid,nodev,size=${disk},mode=1777`,
        [WORK_DIR]: `rw,exec,nosuid,nodev,size=${disk},mode=0755,uid=10001,gid=10001`,
        '/dev/shm': `rw,nosuid,nodev,noexec,size=${disk}`,
      },
      // Files in the tmpfs dirs are memory too and count here; no swap on top.
      Memory: memory,
      MemorySwap: memory,
      PidsLimit: plan.limits.pids,
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
