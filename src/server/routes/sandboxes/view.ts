import { z } from 'zod';
import { SANDBOX_REASONS, SANDBOX_STATES } from '../../../sandboxes/spec.js';
import type { SandboxRow } from '../../../store/store.js';
import { ProblemView } from '../schemas.js';

export const SandboxParams = z.object({ id: z.string().min(1).max(100) });

export const errors = { 400: ProblemView, 401: ProblemView, 403: ProblemView, 404: ProblemView, 422: ProblemView };

export const SandboxView = z.object({
  id: z.string(),
  state: z.enum(SANDBOX_STATES),
  driver: z.string(),
  /** The fleet host it lives on; any host serves its API (src/fleet/sandbox-proxy.ts). */
  host: z.string(),
  image: z.string().nullable(),
  labels: z.record(z.string(), z.string()),
  /** Names only: values may be secrets, and the creator has them. */
  env_keys: z.array(z.string()),
  limits: z.record(z.string(), z.number()),
  network: z.union([z.string(), z.object({ mode: z.string(), allow: z.array(z.string()).optional() })]),
  cwd: z.string(),
  timeout_ms: z.number().int(),
  created_at: z.string(),
  last_used_at: z.string(),
  expires_at: z.string(),
  max_lifetime_at: z.string(),
  ended_at: z.string().nullable(),
  reason: z.enum(SANDBOX_REASONS).nullable(),
  detail: z.string().nullable(),
});
export type SandboxView = z.infer<typeof SandboxView>;

export function sandboxView(row: SandboxRow): SandboxView {
  return {
    id: row.id,
    state: row.state,
    driver: row.driver,
    host: row.host_id,
    image: row.image,
    labels: row.labels,
    env_keys: Object.keys(row.spec.env),
    limits: row.spec.limits,
    network: row.spec.network,
    cwd: row.spec.cwd,
    timeout_ms: row.spec.timeout_ms,
    created_at: row.created_at,
    last_used_at: row.last_used_at,
    expires_at: row.expires_at,
    max_lifetime_at: row.max_lifetime_at,
    ended_at: row.ended_at,
    reason: row.reason,
    detail: row.detail,
  };
}
