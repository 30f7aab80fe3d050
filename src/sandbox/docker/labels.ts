/** Labels on everything Paddock creates in Docker, so a reaper can find its own leftovers. */
export const LABELS = {
  runner: 'paddock.runner',
  host: 'paddock.host',
  job: 'paddock.job',
  pool: 'paddock.pool',
} as const;

export { runnerId } from '../runner-id.js';
