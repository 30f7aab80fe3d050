import { z } from 'zod';
import { Limits } from '../config/schema.js';
import { JobLimits } from '../jobs/spec.js';
import { JobNetwork } from '../sandbox/egress/job-network.js';
import { DRIVER_NAME_RE, IMAGE_REFERENCE_HINT, isImageReference, LABEL_KEY_RE, PRINTABLE_RE } from '../util/grammar.js';

export const SNAPSHOT_ID_RE = /^snap_[0-9a-z]{26}$/;

export const SANDBOX_STATES = ['running', 'paused', 'destroyed'] as const;
export type SandboxState = (typeof SANDBOX_STATES)[number];

/**
 * Why a sandbox is destroyed; `runner_stopped` and `runner_restarted` say the runner ended it, not the user;
 * `host_lost`: the fleet host holding it stopped heartbeating (src/fleet/).
 */
export const SANDBOX_REASONS = ['deleted', 'idle_timeout', 'max_lifetime', 'died', 'runner_stopped', 'runner_restarted', 'host_lost'] as const;
export type SandboxReason = (typeof SANDBOX_REASONS)[number];

const EnvName = z.string().max(256).regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be a valid environment variable name');
const NoNul = (what: string) => z.string().refine((s) => !s.includes('\0'), `${what} must not contain NUL bytes`);

export const SandboxEnv = z
  .record(EnvName, NoNul('env value'))
  .refine((e) => Object.keys(e).length <= 256, 'at most 256 environment variables');

export const SandboxLabels = z
  .record(
    z.string().regex(LABEL_KEY_RE, 'label keys are letters, digits and . _ / - (at most 100)'),
    z.string().max(1000).regex(PRINTABLE_RE, 'label values must not contain control characters'),
  )
  .refine((l) => Object.keys(l).length <= 64, 'at most 64 labels');

/**
 * A path inside the sandbox as the API takes it: absolute, no NUL, at most 4096
 * bytes. The agent resolves it inside the sandbox; the runner never builds a host
 * path from it, so `..` is the sandbox's business, not a way out.
 */
export const SandboxPath = z
  .string()
  .min(1)
  .refine((p) => p.startsWith('/'), 'must be an absolute path')
  .refine((p) => !p.includes('\0'), 'must not contain NUL bytes')
  .refine((p) => Buffer.byteLength(p) <= 4096, 'must be at most 4096 bytes');

export const SandboxCreate = z.strictObject({
  image: z.string().min(1).max(512).refine(isImageReference, IMAGE_REFERENCE_HINT).optional(),
  driver: z.string().regex(DRIVER_NAME_RE, 'must be a driver name such as auto, gvisor, docker or bwrap').default('auto'),
  limits: JobLimits.default({}),
  env: SandboxEnv.default({}),
  labels: SandboxLabels.default({}),
  network: JobNetwork.default('none'),
  /** Idle TTL: the sandbox is destroyed this long after its last use. */
  timeout_ms: z.number().int().min(1000).optional(),
  max_lifetime_ms: z.number().int().min(1000).optional(),
  cwd: SandboxPath.default('/work'),
  /** Start from a snapshot's files (POST /v1/sandboxes/:id/snapshots); its image unless `image` is given. */
  snapshot: z.string().regex(SNAPSHOT_ID_RE, 'must be a snapshot id (snap_…)').optional(),
});
export type SandboxCreate = z.infer<typeof SandboxCreate>;

/** What is stored of a sandbox's request, resolved (limits filled in, TTLs decided). */
export const StoredSandboxSpec = z.strictObject({
  limits: Limits,
  env: SandboxEnv,
  network: JobNetwork,
  cwd: SandboxPath,
  timeout_ms: z.number().int().positive(),
  max_lifetime_ms: z.number().int().positive(),
  /** The image the request named (the row's `image` shows the driver's default when it named none). */
  requested_image: z.string().nullable().optional(),
});
export type StoredSandboxSpec = z.infer<typeof StoredSandboxSpec>;
