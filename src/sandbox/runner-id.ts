import { createHash } from 'node:crypto';
import path from 'node:path';

/**
 * Names one runner (one data dir) on a host. Everything a driver leaves on the
 * host (cgroups, containers) carries it, so a reaper only ever touches its own.
 */
export function runnerId(dataDir: string): string {
  return createHash('sha256').update(path.resolve(dataDir)).digest('hex').slice(0, 12);
}

/** The parent cgroup of one runner's bwrap sandboxes. */
export const cgroupGroup = (dataDir: string): string => `paddock-${runnerId(dataDir)}`;
