import { readFileSync } from 'node:fs';
import type { Config } from '../config/schema.js';

/** Assumed when /proc is not there to ask (the usual soft limit of a login shell). */
const FALLBACK_FD_LIMIT = 1024;
/** Fds kept for everything but client connections: the store (db, WAL, shm), logs, dockerd, listeners. */
const BASE_RESERVE = 128;
/** Fds one running job may hold in the runner: pipes, the bwrap info/block fds, cgroup files, an attach socket. */
const PER_JOB_RESERVE = 16;

/**
 * The soft RLIMIT_NOFILE of this process. Node cannot raise it (no setrlimit),
 * so the runner sizes itself below it and setup.sh / the systemd unit raise it.
 */
export function openFilesLimit(limitsFile = '/proc/self/limits'): number {
  try {
    const line = readFileSync(limitsFile, 'utf8')
      .split('\n')
      .find((l) => l.startsWith('Max open files'));
    const soft = line?.slice('Max open files'.length).trim().split(/\s+/)[0];
    if (soft === 'unlimited') return Number.MAX_SAFE_INTEGER;
    const n = Number(soft);
    return Number.isInteger(n) && n > 0 ? n : FALLBACK_FD_LIMIT;
  } catch {
    return FALLBACK_FD_LIMIT;
  }
}

export interface ConnectionBudget {
  fdLimit: number;
  /** Client connections at once; past it Node closes new ones on accept, so the runner never runs out of fds. */
  maxConnections: number;
  /** Event streams at once (all tokens); half the connections, so requests always find room beside streams. */
  maxStreams: number;
  /** Bytes a stream may have queued in the runner for a slow reader. */
  streamBufferBytes: number;
}

/**
 * Splits the fd limit between sandboxes and clients. Without it 19,975 streams
 * from one token took every fd and no sandbox could start; now connections stop
 * short of the limit, leaving room for `max_concurrent_jobs` sandboxes.
 * Explicit `http.*` settings win (capped so they still leave that room).
 */
export function connectionBudget(config: Config, fdLimit = openFilesLimit()): ConnectionBudget {
  const reserve = BASE_RESERVE + PER_JOB_RESERVE * config.max_concurrent_jobs;
  const room = Math.max(16, fdLimit - reserve);
  const maxConnections = Math.min(room, config.http.max_connections || room);
  const maxStreams = Math.min(maxConnections, config.http.max_streams || Math.max(1, Math.floor(maxConnections / 2)));
  return { fdLimit, maxConnections, maxStreams, streamBufferBytes: config.http.stream_buffer_bytes };
}
