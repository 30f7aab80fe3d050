import type { Limits } from '../../config/schema.js';
import type { ExecLimits } from '../driver.js';
import { perExecRlimits, type Rlimits, tightenRlimits } from '../exec-limits.js';

export interface ChainOptions {
  bwrap: string;
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
 * What Paddock spawns: bwrap itself, under the host uid. Its own --die-with-parent sets
 * PR_SET_PDEATHSIG on bwrap as well as on its child, so both die with Paddock (checked: Paddock's
 * parent SIGKILLed → bwrap and the agent gone). A setpriv --pdeathsig link and a prlimit link
 * that used to come first cost ~5% and ~3% of the CPU of a job; the agent now sets the limits
 * that bound the whole sandbox on itself (agentLimits).
 */
export function buildChain(bwrapArgs: string[], o: ChainOptions): Chain {
  return { file: o.bwrap, args: bwrapArgs, ...(o.hostUser ? { uid: o.hostUser.uid, gid: o.hostUser.gid } : {}) };
}

/**
 * Fds the agent may hold beyond a command's open_files: its channel, the runtime's, and a few per
 * exec, file transfer and forwarded connection (sandboxes.max_execs allows up to 1024 execs).
 */
export const AGENT_FDS = 4096;

/**
 * The agent's own rlimits (`--limits`), which bind everything it starts too: because they bound
 * the sandbox as a whole, not one command — its fds (open_files is each command's, and the agent's
 * own come on top, so a job's small open_files starts, and fails, only its own commands), the
 * size of a file it writes, no core dumps. CPU, memory and process counts are set per exec
 * (execRlimits), or bound the whole tree through the cgroup: a long-lived agent must not run into
 * one job's CPU limit.
 */
export function agentLimits(limits: Pick<Limits, 'open_files' | 'disk_mb'>): string {
  return `--limits=nofile=${limits.open_files + AGENT_FDS},fsize=${limits.disk_mb * 1024 * 1024},core=0`;
}

/**
 * What the agent sets on each command before it execs: CPU seconds (hard = soft + 1 s, so
 * SIGXCPU names the limit), file size, fds, no core, and processes: RLIMIT_NPROC counts the
 * tasks of the sandbox's uid in its own user namespace (the agent's threads too), so the
 * commands stop at limits.pids while the pids cgroup, set a little higher, keeps room for the
 * agent (which it alone would not: a fork bomb would leave the agent no thread, and kill it).
 * Without cgroups memory is an rlimit too (RLIMIT_AS, per process); with them the cgroup
 * bounds the whole tree instead. An exec's own limits (a judge's test) tighten these, never loosen.
 */
export function execRlimits(limits: Limits, cgroups: boolean, own?: ExecLimits): Rlimits {
  const r: Rlimits = {
    cpu: Math.ceil(limits.cpu_ms / 1000),
    fsize: limits.disk_mb * 1024 * 1024,
    nofile: limits.open_files,
    core: 0,
    nproc: limits.pids,
  };
  if (!cgroups) r.as = limits.memory_mb * 1024 * 1024;
  return tightenRlimits(r, perExecRlimits(own, limits));
}
