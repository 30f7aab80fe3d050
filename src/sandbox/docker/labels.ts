import { createHash } from 'node:crypto';
import path from 'node:path';

/** Labels on everything Paddock creates in Docker, so a reaper can find its own leftovers. */
export const LABELS = {
  runner: 'paddock.runner',
  host: 'paddock.host',
  job: 'paddock.job',
  pool: 'paddock.pool',
} as const;

/** Names one runner (one data dir) on a host: two runners never reap each other's containers. */
export function runnerId(dataDir: string): string {
  return createHash('sha256').update(path.resolve(dataDir)).digest('hex').slice(0, 12);
}
