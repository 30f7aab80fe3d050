import { PaddockError } from '../../errors.js';

/** Repeatable commander option: each use adds one value. */
export const collect = (value: string, previous: string[]) => [...previous, value];

/** `KEY=VALUE` flags (--env, --label) as a record; the value may hold further `=`. */
export function parsePairs(flag: string, pairs: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of pairs) {
    const i = pair.indexOf('=');
    if (i <= 0) throw new PaddockError('validation_failed', `${flag} takes KEY=VALUE, not "${pair}"`);
    out[pair.slice(0, i)] = pair.slice(i + 1);
  }
  return out;
}
