import { PaddockError } from '../../errors.js';

/**
 * Hands out host uids from one range, one per container while it exists, so no
 * two containers share per-uid kernel limits (inotify instances, RLIMIT_NPROC).
 * Docker maps no user namespace: a container's uid is the host uid.
 */
export class UidRange {
  private readonly used = new Set<number>();
  private next = 0;

  constructor(
    readonly start: number,
    readonly size: number,
  ) {}

  /** A free uid; round-robin, so a just-freed uid is not handed out again at once. */
  take(): number {
    for (let i = 0; i < this.size; i++) {
      const uid = this.start + ((this.next + i) % this.size);
      if (this.used.has(uid)) continue;
      this.used.add(uid);
      this.next = (uid - this.start + 1) % this.size;
      return uid;
    }
    throw new PaddockError(
      'driver_error',
      `all ${this.size} container uids from ${this.start} are in use (docker.uid_range_size is smaller than jobs + warm pool)`,
    );
  }

  release(uid: number): void {
    this.used.delete(uid);
  }

  get inUse(): number {
    return this.used.size;
  }
}

const ranges = new Map<string, UidRange>();

/** One range per process and configuration: the docker and gvisor drivers draw from the same one. */
export function sharedUidRange(start: number, size: number): UidRange {
  const key = `${start}:${size}`;
  let range = ranges.get(key);
  if (!range) ranges.set(key, (range = new UidRange(start, size)));
  return range;
}
