import { PaddockError } from '../errors.js';

/**
 * Host uids for sandboxes, one each while it exists: per-user kernel limits
 * (RLIMIT_NPROC, inotify instances and watches, user keyrings, mqueue bytes)
 * are counted per host uid, so sandboxes sharing one could starve each other.
 * Round robin from the last one handed out, so a uid just given back is not
 * reused while its last processes die. The gid is the uid. Used by bwrap
 * (sandbox.uid_range_*) and the container drivers (docker.uid_range_*).
 */
export class UidRange {
  private readonly used = new Set<number>();
  private next = 0;

  constructor(
    readonly start: number,
    readonly size: number,
    /** The config keys that set this range, for the message when it runs out. */
    private readonly keys: string,
  ) {}

  get end(): number {
    return this.start + this.size - 1;
  }

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
      `no free host uid: all ${this.size} of ${this.keys} (${this.start}-${this.end}) are in use; ` +
        'make the range larger than the jobs (and warm containers) that run at once',
      { uid_range_start: this.start, uid_range_size: this.size },
    );
  }

  release(uid: number): void {
    this.used.delete(uid);
  }

  get inUse(): number {
    return this.used.size;
  }
}
