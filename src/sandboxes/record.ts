import type { Limits } from '../config/schema.js';
import type { SandboxRow } from '../store/store.js';
import type { SandboxCreate } from './spec.js';

export interface NewRecord {
  id: string;
  tokenId: string | null;
  driver: string;
  image: string | undefined;
  req: SandboxCreate;
  limits: Limits;
  /** Idle TTL and max lifetime, already bounded by the config. */
  timeout: number;
  maxLifetime: number;
  hostId: string;
  now?: number;
}

/** The row of a sandbox that has just started: running, its idle TTL and lifetime counted from now. */
export function newRecord(r: NewRecord): SandboxRow {
  const now = r.now ?? Date.now();
  const at = (ms: number) => new Date(now + ms).toISOString();
  return {
    id: r.id,
    token_id: r.tokenId,
    state: 'running',
    reason: null,
    detail: null,
    driver: r.driver,
    image: r.image ?? null,
    spec: {
      limits: r.limits,
      env: r.req.env,
      network: r.req.network,
      cwd: r.req.cwd,
      timeout_ms: r.timeout,
      max_lifetime_ms: r.maxLifetime,
      requested_image: r.req.image ?? null,
    },
    labels: r.req.labels,
    host_id: r.hostId,
    created_at: at(0),
    last_used_at: at(0),
    expires_at: at(r.timeout),
    max_lifetime_at: at(r.maxLifetime),
    ended_at: null,
  };
}
