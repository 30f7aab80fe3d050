import { PaddockError } from '../../errors.js';

/**
 * Host uids for running sandboxes, one each: per-user kernel limits (RLIMIT_NPROC,
 * inotify instances and watches, user keyrings, mqueue bytes) are counted per host
 * uid, so sandboxes sharing one could starve each other. A uid is taken at create and
 * given back at destroy; the next one is taken after the last handed out (round
 * robin), so a uid just given back is not reused while its last processes die.
 * The gid is the uid.
 */
export class UidRange {
  private readonly inUse = new Set<number>();
  private next = 0;

  constructor(
    readonly start: number,
    readonly size: number,
  ) {}

  get end(): number {
    return this.start + this.size - 1;
  }

  acquire(): number {
    for (let i = 0; i < this.size; i++) {
      const uid = this.start + ((this.next + i) % this.size);
      if (this.inUse.has(uid)) continue;
      this.inUse.add(uid);
      this.next = (uid - this.start + 1) % this.size;
      return uid;
    }
    throw new PaddockError(
      'driver_error',
      `no free host uid for a bwrap sandbox: all ${this.size} of sandbox.uid_range_start..+uid_range_size ` +
        `(${this.start}-${this.end}) are in use; raise sandbox.uid_range_size above max_concurrent_jobs`,
      { uid_range_start: this.start, uid_range_size: this.size },
    );
  }

  release(uid: number): void {
    this.inUse.delete(uid);
  }

  get used(): number {
    return this.inUse.size;
  }
}
