// What the bwrap driver tells about itself: host details for doctor and /health, and its measured floors.
import type { Limits } from '../../config/schema.js';
import type { UidRange } from '../uid-range.js';
import type { CgroupV1 } from './cgroup.js';

/** What `paddock doctor` and /health say of this host's bwrap sandboxes beyond the probe. */
export function hostDetails(o: {
  uids: UidRange | undefined;
  maxConcurrentJobs: number;
  cgroup: CgroupV1 | undefined;
  pause: boolean;
}): Record<string, string> {
  return {
    host_uids: o.uids
      ? `${o.uids.start}-${o.uids.end}, one per sandbox (warm ones too)` +
        (o.uids.size < o.maxConcurrentJobs ? ` (fewer than max_concurrent_jobs: raise sandbox.uid_range_size)` : '')
      : "off (not root: sandboxes run as the runner's uid and share its per-user limits)",
    cpu_rate: !o.cgroup
      ? 'off (no cgroups: limits.cpus is not enforced, cpu_ms still is)'
      : o.cgroup.cpuRate
        ? 'cgroup v1 cpu quota (limits.cpus)'
        : 'off (cgroup v1 cpu controller not mounted: limits.cpus is not enforced)',
    rusage: o.cgroup ? 'cgroup' : "the agent's wait4 of each command",
    pause: o.pause ? 'cgroup v1 freezer' : 'unavailable (needs the cgroup v1 freezer, as root)',
  };
}

/**
 * The smallest limits a sandbox starts a command with, measured through this driver (create +
 * exec, one limit lowered at a time from the defaults) with the agent as PID 1, on Debian 12
 * (kernel 6.18, bwrap 0.8.0), cgroup v1, 2 cores, Dec 2026 — then rounded up:
 * - open_files 4: each command's own (bwrap and the agent have theirs on top, chain.ts); below
 *   it /bin/echo cannot open libc; exact, as test/bwrap-fd-limit.int.test.ts shows.
 * - pids 10: RLIMIT_NPROC counts the agent's 6-7 threads with the commands', so `/bin/echo`
 *   starts under 1 but a shell that forks needs 8 (7 failed 4 of 5), as for containers (the
 *   pids cgroup has room for the agent beyond that, box.ts).
 * - memory_mb: with cgroups 2 starts (1 is OOM-killed), floored at 4; without, RLIMIT_AS binds
 *   the command alone and 4 starts, floored at 8.
 */
export const MIN_LIMITS: Record<'cgroups' | 'rlimits', Partial<Limits>> = {
  cgroups: { pids: 10, memory_mb: 4, open_files: 4, disk_mb: 1, cpu_ms: 1 },
  rlimits: { pids: 10, memory_mb: 8, open_files: 4, disk_mb: 1, cpu_ms: 1 },
};
