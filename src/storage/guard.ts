import { statfsSync } from 'node:fs';
import { open, rm } from 'node:fs/promises';
import path from 'node:path';
import type { Config } from '../config/schema.js';
import { PaddockError } from '../errors.js';
import { STORAGE_RETRY_AFTER_S } from '../store/storage-full.js';
import type { Logger } from '../util/log.js';

const MiB = 1024 * 1024;
/** Free space is read at most this often (statfs is cheap, but submits come in bursts). */
const CHECK_MS = 1000;
export const RESERVE_FILE = 'storage.reserve';

/**
 * Watches the disk under the data dir so that a full disk is survivable:
 * - below `storage.min_free_mb` free, new jobs are refused (`507 storage_full`)
 *   before the database hits the wall;
 * - once a store write failed for lack of space (`noteFull`), /health is
 *   degraded and the reserve file is given up, so the runner can still record
 *   how its running jobs end;
 * - when space is back, both clear and the `onRecovered` listeners run (the
 *   scheduler retries what it could not write), and the reserve is re-made.
 */
export class StorageGuard {
  private freeBytes = Number.POSITIVE_INFINITY;
  private checkedAt = 0;
  private fullSince: string | undefined;
  private timer: NodeJS.Timeout | undefined;
  private reserving = false;
  /** Free space was below the floor (what else failed meanwhile, e.g. a probe, may be retried once it is not). */
  private low = false;
  private readonly recovered: (() => void)[] = [];
  private readonly floorBytes: number;
  private readonly reserveBytes: number;
  private readonly reserveFile: string;

  constructor(
    private readonly dir: string,
    config: Pick<Config, 'storage'>,
    private readonly log: Logger,
  ) {
    this.floorBytes = config.storage.min_free_mb * MiB;
    this.reserveBytes = config.storage.reserve_mb * MiB;
    this.reserveFile = path.join(dir, RESERVE_FILE);
  }

  /** Reads free space now and then every second; keeps the reserve file. */
  start(): void {
    this.check();
    this.timer = setInterval(() => this.check(), CHECK_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  onRecovered(listener: () => void): void {
    this.recovered.push(listener);
  }

  /** A store write failed for lack of space. */
  noteFull = (err?: unknown): void => {
    if (!this.fullSince) {
      this.fullSince = new Date().toISOString();
      this.log.error({ err }, 'the disk under the data dir is full: new jobs are refused until space returns');
    }
    this.checkedAt = 0;
    void rm(this.reserveFile, { force: true }).catch(() => undefined);
  };

  /** True while store writes are known to fail for lack of space. */
  get full(): boolean {
    return this.fullSince !== undefined;
  }

  /** Why storage is not healthy (for /health), or undefined when it is. */
  problem(): string | undefined {
    this.refresh();
    if (this.fullSince) return `storage_full: store writes fail for lack of disk space since ${this.fullSince}`;
    if (this.freeBytes < this.floorBytes) {
      return `storage_low: ${mb(this.freeBytes)} MiB free in ${this.dir}, below storage.min_free_mb (${mb(this.floorBytes)} MiB)`;
    }
    return undefined;
  }

  /** Throws `507 storage_full` (with Retry-After) when a new job should not be accepted. */
  checkSubmit(): void {
    const problem = this.problem();
    if (!problem) return;
    throw new PaddockError('storage_full', `the runner is short of disk space, not accepting jobs (${problem})`, {
      retry_after_s: STORAGE_RETRY_AFTER_S,
      free_mb: Number.isFinite(this.freeBytes) ? mb(this.freeBytes) : undefined,
      min_free_mb: mb(this.floorBytes),
    });
  }

  private refresh(): void {
    if (Date.now() - this.checkedAt < CHECK_MS) return;
    this.checkedAt = Date.now();
    try {
      const s = statfsSync(this.dir);
      this.freeBytes = Number(s.bavail) * Number(s.bsize);
    } catch (err) {
      this.log.warn({ err, dir: this.dir }, 'cannot read free disk space');
    }
  }

  private check(): void {
    this.checkedAt = 0;
    this.refresh();
    // Space is back when the floor (and room for the reserve) is free again.
    const room = this.freeBytes >= this.floorBytes + this.reserveBytes && this.freeBytes > 0;
    if ((this.fullSince || this.low) && room) {
      this.fullSince = undefined;
      this.low = false;
      this.log.warn({ freeMb: mb(this.freeBytes) }, 'disk space is back: accepting jobs again');
      for (const listener of this.recovered) listener();
    }
    if (this.freeBytes < this.floorBytes) this.low = true;
    if (room && !this.fullSince) void this.keepReserve();
  }

  /** Makes the reserve file (real blocks: zeros written, not a sparse file) if it is missing or short. */
  private async keepReserve(): Promise<void> {
    if (this.reserving || this.reserveBytes === 0) return;
    this.reserving = true;
    let file;
    try {
      file = await open(this.reserveFile, 'a+', 0o600);
      const have = (await file.stat()).size;
      const zeros = Buffer.alloc(MiB);
      for (let at = have; at < this.reserveBytes && !this.fullSince; at += zeros.length) {
        await file.write(zeros, 0, Math.min(zeros.length, this.reserveBytes - at));
      }
    } catch (err) {
      this.log.warn({ err }, 'cannot keep the storage reserve file');
      await rm(this.reserveFile, { force: true }).catch(() => undefined);
    } finally {
      await file?.close().catch(() => undefined);
      this.reserving = false;
    }
    if (this.fullSince) await rm(this.reserveFile, { force: true }).catch(() => undefined);
  }
}

const mb = (bytes: number) => Math.floor(bytes / MiB);
