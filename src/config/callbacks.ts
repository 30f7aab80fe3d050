import { z } from 'zod';

/** Job status callbacks (`callback_url` on a job; src/jobs/callbacks/). */
export const CallbacksConfig = z
  .strictObject({
    /**
     * Let callbacks reach loopback, private (RFC 1918, ULA), link-local (cloud metadata) and other
     * non-public addresses. Off, a job cannot make the runner probe its own network (SSRF).
     */
    allow_private: z.boolean().default(false),
    /** Tries per delivery, the first included; network errors, timeouts, 5xx and 429 are tried again. */
    max_attempts: z.number().int().min(1).max(20).default(6),
    /** One try's budget: connect, request and response headers. */
    timeout_ms: z.number().int().min(100).max(300_000).default(10_000),
    /** Deliveries held in memory at once, all jobs together; beyond it the oldest are dropped (and counted). */
    max_pending: z.number().int().min(1).max(1_000_000).default(10_000),
    /** Signs callbacks of jobs whose spec and token give no secret of their own; empty: those go unsigned. */
    secret: z.string().max(1024).default(''),
  })
  .prefault({});
export type CallbacksConfig = z.infer<typeof CallbacksConfig>;
