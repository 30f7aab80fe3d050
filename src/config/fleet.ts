import { z } from 'zod';
import { LABEL_KEY_RE, PRINTABLE_RE } from '../util/grammar.js';

/** Fleet mode (src/fleet/): several hosts on one PostgreSQL store. Harmless on one host. */
export const FleetConfig = z
  .strictObject({
    /**
     * Where the other hosts reach this host's API (`http://10.0.0.5:7878`): requests for sandboxes it
     * holds are proxied there. Empty: nowhere (a host behind NAT still runs jobs, but holds no sandboxes).
     */
    advertise_url: z
      .union([
        z.literal(''),
        z
          .string()
          .max(500)
          .regex(/^https?:\/\/[A-Za-z0-9.[\]:-]+(?::\d{1,5})?\/?$/, 'must be http(s)://host[:port], no path'),
      ])
      .transform((u) => u.replace(/\/$/, ''))
      .default(''),
    /** How often this host writes its heartbeat (and its load) to the store. */
    heartbeat_ms: z.number().int().min(100).max(60_000).default(2000),
    /** A host whose last heartbeat is older than this is `lost`: its leases may be taken over. */
    host_timeout_ms: z.number().int().min(500).max(3_600_000).default(15_000),
    /**
     * How long a claim holds a job without being renewed (the running host renews it every third of
     * this). A lease run out means its host is gone: another host requeues or fails the job.
     */
    lease_ms: z.number().int().min(1000).max(3_600_000).default(30_000),
    /**
     * On PostgreSQL, LISTEN for queued jobs (woken at once). Off: poll only — for a pooler in
     * transaction mode (PgBouncer's), which does not pass LISTEN through.
     */
    listen: z.boolean().default(true),
    /** On PostgreSQL, how often a host looks for queued jobs without being notified (the fallback for NOTIFY); 0: never. */
    poll_ms: z.number().int().min(0).max(600_000).default(1000),
    /** Runs a job gets when its host is lost (the first included); past it the job fails `host_lost`. */
    max_attempts: z.number().int().min(1).max(100).default(3),
    /** What this host offers beyond its drivers (`gpu=true`, `region=eu`): jobs may require them. */
    labels: z
      .record(
        z.string().regex(LABEL_KEY_RE, 'label keys are letters, digits and . _ / - (at most 100)'),
        z.string().max(200).regex(PRINTABLE_RE, 'label values must not contain control characters'),
      )
      .refine((l) => Object.keys(l).length <= 64, 'at most 64 labels')
      .default({}),
  })
  .refine((f) => f.host_timeout_ms >= 2 * f.heartbeat_ms, 'fleet.host_timeout_ms must be at least twice fleet.heartbeat_ms')
  .prefault({});
export type FleetConfig = z.infer<typeof FleetConfig>;
