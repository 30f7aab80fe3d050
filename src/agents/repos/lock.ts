import { randomBytes } from 'node:crypto';
import { open, readFile, stat, unlink } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { PaddockError } from '../../errors.js';
import { processAlive } from '../../util/pid.js';
import { abortReason } from './git.js';

/**
 * One writer per mirror: an in-process queue (so one process never races itself and only one of its
 * waiters polls the file), then a lock file made with O_EXCL holding `<pid> <token>`, so two runner
 * processes sharing a data dir take turns. A lock whose pid is gone is stale and taken over; so is
 * one with our own pid but another token (a restarted runner that got the same pid, pid 1 in a container).
 * Two processes finding the same stale lock at the same instant could both take it: that needs a
 * crash first, and the window is one unlink.
 */
export type Release = () => Promise<void>;

const TOKEN = randomBytes(8).toString('hex');
const POLL_MS = 50;

export class MirrorLocks {
  private readonly tails = new Map<string, Promise<void>>();

  async acquire(key: string, file: string, opts: { timeoutMs: number; signal?: AbortSignal }): Promise<Release> {
    const deadline = Date.now() + opts.timeoutMs;
    const prev = this.tails.get(key) ?? Promise.resolve();
    let done!: () => void;
    const mine = new Promise<void>((r) => (done = r));
    const tail = prev.then(() => mine);
    this.tails.set(key, tail);
    const leave = () => {
      done();
      if (this.tails.get(key) === tail) this.tails.delete(key);
    };
    try {
      await raceDeadline(prev, opts.timeoutMs, opts.signal);
      // `prev` settled: a waiter that gave up still lets the ones behind it through.
      while (!(await tryCreate(file))) {
        if (opts.signal?.aborted) throw abortReason(opts.signal);
        if (Date.now() >= deadline) throw lockTimeout(opts.timeoutMs);
        await sleep(POLL_MS);
      }
    } catch (err) {
      // Our turn may come after we gave up; pass it on at once.
      void prev.then(leave);
      throw err;
    }
    return async () => {
      await unlink(file).catch(() => {});
      leave();
    };
  }

  /** The lock if nobody has it now (prune never waits for a mirror in use). */
  async tryAcquire(key: string, file: string): Promise<Release | undefined> {
    if (this.tails.has(key)) return undefined;
    let done!: () => void;
    const tail = new Promise<void>((r) => (done = r));
    this.tails.set(key, tail);
    const leave = () => {
      done();
      if (this.tails.get(key) === tail) this.tails.delete(key);
    };
    if (!(await tryCreate(file))) {
      leave();
      return undefined;
    }
    return async () => {
      await unlink(file).catch(() => {});
      leave();
    };
  }
}

async function tryCreate(file: string): Promise<boolean> {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fh = await open(file, 'wx', 0o600);
      await fh.writeFile(`${process.pid} ${TOKEN}\n`);
      await fh.close();
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    if (!(await isStale(file))) return false;
    await unlink(file).catch(() => {});
  }
  return false;
}

async function isStale(file: string): Promise<boolean> {
  let text: string;
  let mtimeMs: number;
  try {
    [text, { mtimeMs }] = await Promise.all([readFile(file, 'utf8'), stat(file)]);
  } catch {
    return true; // released between our open and our read
  }
  const m = /^(\d+) ([0-9a-f]+)\n$/.exec(text);
  // A lock not (yet) holding a pid is being written, unless it has been like that for a while (a crash mid-write).
  if (!m) return Date.now() - mtimeMs > 10_000;
  const pid = Number(m[1]);
  if (pid === process.pid) return m[2] !== TOKEN;
  return !processAlive(pid);
}

function lockTimeout(ms: number): PaddockError {
  return new PaddockError('repo_timeout', `the repository stayed locked by another job for ${ms} ms`, { timeout_ms: ms });
}

async function raceDeadline(p: Promise<void>, ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) throw abortReason(signal);
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  try {
    await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(lockTimeout(ms)), ms);
        onAbort = () => reject(abortReason(signal!));
        signal?.addEventListener('abort', onAbort, { once: true });
      }),
    ]);
  } finally {
    clearTimeout(timer);
    if (onAbort) signal?.removeEventListener('abort', onAbort);
  }
}
