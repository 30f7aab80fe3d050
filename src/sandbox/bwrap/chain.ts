import type { Limits } from '../../config/schema.js';

export interface ChainOptions {
  bwrap: string;
  limits: Limits;
  /** Drop to this host uid/gid before anything runs (set when Paddock is root). */
  hostUser?: { uid: number; gid: number } | undefined;
  /** cgroups bound memory and pids for the whole tree, so rlimits need not. */
  cgroups: boolean;
  /** GNU time, for CPU and max RSS when cgroups cannot report them. */
  timeBin?: string | undefined;
  rusageFile: string;
}

export interface Chain {
  file: string;
  args: string[];
  uid?: number;
  gid?: number;
}

/**
 * The host-side wrapper around bwrap, exec'd in one process where possible:
 * [setpriv --pdeathsig] → prlimit → [time] → bwrap. Each link is there for one reason:
 * - prlimit: rlimits, which Node cannot set on a child;
 * - time: rusage of the whole tree when no cgroup reports it;
 * - setpriv: with time in between, bwrap's parent is no longer Paddock, so
 *   `--die-with-parent` alone would not fire if Paddock is killed.
 */
export function buildChain(bwrapArgs: string[], o: ChainOptions): Chain {
  const cpuS = Math.ceil(o.limits.cpu_ms / 1000);
  const fileBytes = o.limits.disk_mb * 1024 * 1024;
  const rlimits = [`--cpu=${cpuS}:${cpuS + 1}`, `--fsize=${fileBytes}`, `--nofile=${o.limits.open_files}`, '--core=0'];
  if (!o.cgroups) {
    rlimits.push(`--as=${o.limits.memory_mb * 1024 * 1024}`, `--nproc=${o.limits.pids}`);
  }
  let argv = ['prlimit', ...rlimits, '--', o.bwrap, ...bwrapArgs];
  if (!o.cgroups && o.timeBin) {
    argv = [
      'setpriv', '--pdeathsig', 'KILL', '--',
      'prlimit', ...rlimits, '--',
      o.timeBin, '-f', '%e %U %S %M', '-o', o.rusageFile, '--',
      o.bwrap, ...bwrapArgs,
    ];
  }
  const [file, ...args] = argv as [string, ...string[]];
  return { file, args, ...(o.hostUser ? { uid: o.hostUser.uid, gid: o.hostUser.gid } : {}) };
}

/** Parses GNU time's `%e %U %S %M` line. */
export function parseRusage(text: string): { cpuMs: number; maxRssKb: number } | undefined {
  const line = text.trim().split('\n').at(-1) ?? '';
  const m = /^([\d.]+) ([\d.]+) ([\d.]+) (\d+)$/.exec(line);
  if (!m) return undefined;
  return { cpuMs: Math.round((Number(m[2]) + Number(m[3])) * 1000), maxRssKb: Number(m[4]) };
}
