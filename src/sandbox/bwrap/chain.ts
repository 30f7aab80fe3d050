import type { Limits } from '../../config/schema.js';
import type { AgentExecOptions } from '../agent-exec.js';

export interface ChainOptions {
  bwrap: string;
  limits: Pick<Limits, 'open_files' | 'disk_mb'>;
  /** Drop to this host uid/gid before anything runs (set when Paddock is root). */
  hostUser?: { uid: number; gid: number } | undefined;
}

export interface Chain {
  file: string;
  args: string[];
  uid?: number;
  gid?: number;
}

/**
 * The host-side wrapper around bwrap, exec'd in one process: prlimit → bwrap. bwrap's own
 * --die-with-parent sets PR_SET_PDEATHSIG on bwrap itself as well as on its child, so both die
 * with Paddock (checked: Paddock's parent SIGKILLed → bwrap and the agent gone); the setpriv
 * --pdeathsig link that used to come first cost ~5% of the CPU of a job.
 * - prlimit: only the rlimits that must bind the agent too, because they bound the sandbox as a
 *   whole: its fds (the agent holds one set per exec and connection; bwrap runs out before the
 *   sandbox exists when open_files is too small), the size of a file it writes, no core dumps.
 *   CPU, memory and process counts are set per exec by the agent (execRlimits), or bound the
 *   whole tree through the cgroup: a long-lived agent must not run into one job's CPU limit.
 */
export function buildChain(bwrapArgs: string[], o: ChainOptions): Chain {
  const rlimits = [`--nofile=${o.limits.open_files}`, `--fsize=${o.limits.disk_mb * 1024 * 1024}`, '--core=0'];
  const [file, ...args] = ['prlimit', ...rlimits, '--', o.bwrap, ...bwrapArgs] as [string, ...string[]];
  return { file, args, ...(o.hostUser ? { uid: o.hostUser.uid, gid: o.hostUser.gid } : {}) };
}

/**
 * What the agent sets on each command before it execs: CPU seconds (hard = soft + 1 s, so
 * SIGXCPU names the limit), file size, fds, no core, and processes: RLIMIT_NPROC counts the
 * tasks of the sandbox's uid in its own user namespace (the agent's threads too), so the
 * commands stop at limits.pids while the pids cgroup, set a little higher, keeps room for the
 * agent (which it alone would not: a fork bomb would leave the agent no thread, and kill it).
 * Without cgroups memory is an rlimit too (RLIMIT_AS, per process); with them the cgroup
 * bounds the whole tree instead.
 */
export function execRlimits(limits: Limits, cgroups: boolean): NonNullable<AgentExecOptions['rlimits']> {
  const r: NonNullable<AgentExecOptions['rlimits']> = {
    cpu: Math.ceil(limits.cpu_ms / 1000),
    fsize: limits.disk_mb * 1024 * 1024,
    nofile: limits.open_files,
    core: 0,
    nproc: limits.pids,
  };
  if (!cgroups) r.as = limits.memory_mb * 1024 * 1024;
  return r;
}
