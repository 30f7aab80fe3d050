import { UidRange } from '../uid-range.js';

const ranges = new Map<string, UidRange>();

/** One range per process and configuration: the docker and gvisor drivers draw from the same one. */
export function sharedUidRange(start: number, size: number): UidRange {
  const key = `${start}:${size}`;
  let range = ranges.get(key);
  if (!range) ranges.set(key, (range = new UidRange(start, size, 'docker.uid_range_*')));
  return range;
}
