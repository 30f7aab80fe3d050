import type { Principal } from '../auth/tokens.js';
import type { Config } from '../config/schema.js';
import { PaddockError } from '../errors.js';
import type { SandboxRow, Store } from '../store/store.js';
import { boundedLifetime } from './admission.js';
import type { SandboxEvents } from './events.js';
import type { LiveSandbox } from './live.js';

/** The parts of SandboxService that pause, resume and the TTL change use. */
export interface Controlled {
  config: Config;
  store: Store;
  events: SandboxEvents;
  liveOf(id: string): LiveSandbox | undefined;
  get(id: string, p: Principal | undefined): Promise<SandboxRow>;
  running(id: string, p: Principal | undefined): Promise<LiveSandbox>;
  touch(live: LiveSandbox): void;
}

/** POST …/timeout: a new idle TTL, counted from now (running or paused; a destroyed sandbox is 409). */
export async function setIdleTimeout(c: Controlled, id: string, p: Principal | undefined, timeoutMs: number): Promise<SandboxRow> {
  const row = await c.get(id, p);
  const live = c.liveOf(id);
  if (!live || live.ending) {
    throw new PaddockError('conflict', `sandbox ${id} is destroyed`, { state: 'destroyed', ...(row.reason ? { reason: row.reason } : {}) });
  }
  const timeout = boundedLifetime(c.config, 'timeout_ms', timeoutMs);
  live.row = { ...live.row, spec: { ...live.row.spec, timeout_ms: timeout } };
  c.touch(live);
  return live.row;
}

/** Freezes a running sandbox; a driver that cannot is `422 driver_unavailable`. */
export async function pauseSandbox(c: Controlled, id: string, p: Principal | undefined): Promise<SandboxRow> {
  const live = await c.running(id, p);
  // A driver that cannot pause (bwrap without the freezer) throws driver_unavailable itself.
  await live.sandbox.pause();
  return recordState(c, live, 'paused');
}

/** Thaws a paused sandbox; its idle TTL starts again. */
export async function resumeSandbox(c: Controlled, id: string, p: Principal | undefined): Promise<SandboxRow> {
  const row = await c.get(id, p);
  const live = c.liveOf(id);
  if (!live || live.ending || row.state !== 'paused') {
    const state = !live || live.ending ? 'destroyed' : row.state;
    throw new PaddockError('conflict', `sandbox ${id} is ${state}, not paused`, { state });
  }
  await live.sandbox.resume!();
  live.touch();
  return recordState(c, live, 'running');
}

async function recordState(c: Controlled, live: LiveSandbox, state: 'running' | 'paused'): Promise<SandboxRow> {
  live.row = { ...live.row, state };
  const { last_used_at, expires_at } = live.row;
  await c.store.updateSandbox(live.id, { state, last_used_at, expires_at });
  c.events.publish(live.id, state === 'paused' ? 'paused' : 'resumed');
  return live.row;
}
