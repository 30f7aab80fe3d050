import { readFileSync } from 'node:fs';

const ROOT = '/sys/fs/cgroup';

/**
 * CPU and peak memory of a container, read straight from its cgroup (v1,
 * cgroupfs driver: /sys/fs/cgroup/<controller>/docker/<id>). Docker's stats API
 * samples once a second, too slow for a CPU watchdog. Null where not readable.
 */
export function containerCgroupStats(containerId: string): {
  cpuNs: number | null;
  maxMemBytes: number | null;
  oomKills: number | null;
} {
  const read = (controller: string, file: string) => {
    try {
      return readFileSync(`${ROOT}/${controller}/docker/${containerId}/${file}`, 'utf8');
    } catch {
      return null;
    }
  };
  const num = (text: string | null) => (text === null ? null : Number(text));
  const oom = read('memory', 'memory.oom_control');
  return {
    cpuNs: num(read('cpuacct', 'cpuacct.usage')),
    maxMemBytes: num(read('memory', 'memory.max_usage_in_bytes')),
    oomKills: oom === null ? null : Number(/oom_kill (\d+)/.exec(oom)?.[1] ?? 0),
  };
}
