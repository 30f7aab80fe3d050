import { z } from 'zod';
import { DOMAIN_RE } from '../util/grammar.js';

/** Persistent sandboxes (src/sandboxes/). */
export const SandboxesConfig = z
  .strictObject({
    /** Idle TTL of a sandbox that names none; every use (exec, files, timeout) starts it again. */
    default_timeout_ms: z.number().int().min(1000).default(300_000),
    /** No sandbox lives longer than this, used or not; also the largest `timeout_ms`/`max_lifetime_ms` one may ask for. */
    max_lifetime_ms: z.number().int().min(1000).default(86_400_000),
    /** Execs running at once in one sandbox; beyond it `429 too_many_execs`. */
    max_execs: z.number().int().min(1).max(1024).default(16),
    /** Live sandboxes on this runner, all tokens together; beyond it `429 quota_exceeded`. */
    max_live: z.number().int().min(1).max(4096).default(32),
    /** Largest file a PUT /v1/sandboxes/:id/files takes; beyond it `413 payload_too_large`. */
    max_upload_bytes: z.number().int().min(1).default(512 * 1024 * 1024),
    /** How often sandboxes past their idle TTL or lifetime are destroyed. */
    sweep_ms: z.number().int().min(50).default(1000),
    /** Filesystem snapshots a token may keep (POST /v1/sandboxes/:id/snapshots); beyond it `429 quota_exceeded`. */
    max_snapshots: z.number().int().min(0).max(10_000).default(16),
    /** Largest snapshot archive, in MiB; beyond it `413 snapshot_too_large`. */
    snapshot_max_mb: z.number().int().min(1).max(64 * 1024).default(1024),
    /** Snapshots older than this are deleted, files and all, checked every retention.interval_ms; 0: kept until deleted. */
    snapshot_max_age_ms: z.number().int().min(0).default(0),
    /** Sandboxes one fork request may make. */
    max_forks: z.number().int().min(1).max(64).default(8),
    /**
     * Host-name previews: `<port>-<sandbox id>.<preview_domain>` is proxied to that port of the sandbox
     * (a wildcard DNS name pointing at the runner). Empty: only `/v1/sandboxes/:id/ports/:port/…`.
     */
    preview_domain: z
      .string()
      .transform((d) => d.trim().toLowerCase().replace(/^\.+|\.+$/g, ''))
      .pipe(z.union([z.literal(''), z.string().max(200).regex(DOMAIN_RE, 'must be a DNS name such as preview.example.com')]))
      .default(''),
    /** A preview connection with no bytes either way for this long is closed (before any answer: `504 preview_timeout`). */
    preview_idle_ms: z.number().int().min(100).default(120_000),
  })
  .default({
    default_timeout_ms: 300_000,
    max_lifetime_ms: 86_400_000,
    max_execs: 16,
    max_live: 32,
    max_upload_bytes: 512 * 1024 * 1024,
    sweep_ms: 1000,
    max_snapshots: 16,
    snapshot_max_mb: 1024,
    snapshot_max_age_ms: 0,
    max_forks: 8,
    preview_domain: '',
    preview_idle_ms: 120_000,
  });
export type SandboxesConfig = z.infer<typeof SandboxesConfig>;
