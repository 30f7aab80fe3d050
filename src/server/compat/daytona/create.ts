import { z } from 'zod';
import type { Config } from '../../../config/schema.js';
import { PaddockError } from '../../../errors.js';
import { SandboxCreate } from '../../../sandboxes/spec.js';
import { PRINTABLE_RE } from '../../../util/grammar.js';
import { imageOfDockerfile, paddockImage } from './images.js';
import { ARCHIVE_LABEL, DELETE_LABEL, NAME_LABEL, OWN_LABEL, SNAPSHOT_LABEL } from './sandbox-view.js';
import { notSupported } from './unsupported.js';

/** Daytona's sandbox names: letters, digits, `.`, `_`, `-`, at most 63 (as a DNS label, which a name ends up in there). */
export const DaytonaName = z
  .string()
  .regex(/^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$/, 'names are letters, digits and . _ - (at most 63)');

/** Daytona's autoStopInterval when the request gives none (its documented default). */
const DEFAULT_AUTO_STOP_MIN = 15;
const Minutes = z.number().int().min(0).max(1_000_000);
const Gib = z.number().positive().max(1_000_000);

/**
 * `POST /sandbox` as the SDK sends it (Daytona.create → @daytona/api-client CreateSandbox).
 * Unknown fields are let through (a newer SDK adds some); the ones Paddock cannot honour are refused.
 */
export const DaytonaCreate = z.looseObject({
  name: DaytonaName.optional(),
  snapshot: z.string().max(512).regex(PRINTABLE_RE).optional(),
  buildInfo: z.looseObject({ dockerfileContent: z.string().max(64 * 1024).optional(), contextHashes: z.array(z.string()).max(0, 'build contexts are not supported').optional() }).optional(),
  user: z.string().max(64).optional(),
  env: z.record(z.string(), z.string()).default({}),
  labels: z.record(z.string(), z.string()).default({}),
  public: z.boolean().optional(),
  networkBlockAll: z.boolean().optional(),
  networkAllowList: z.string().max(0, 'networkAllowList is not supported (network is off, or Paddock egress)').optional(),
  target: z.string().max(100).optional(),
  cpu: z.number().int().positive().max(1024).optional(),
  gpu: z.number().int().max(0, 'GPUs are not supported on this runner').optional(),
  memory: Gib.optional(),
  disk: Gib.optional(),
  autoStopInterval: Minutes.optional(),
  autoPauseInterval: z.literal(0, 'autoPauseInterval is not supported on this runner (use autoStopInterval)').optional(),
  autoArchiveInterval: Minutes.optional(),
  autoDeleteInterval: z.number().int().min(-1).max(1_000_000).optional(),
  volumes: z.array(z.unknown()).max(0, 'volumes are not supported on this runner').optional(),
  secrets: z.array(z.unknown()).max(0, 'secrets are not supported on this runner').optional(),
});
export type DaytonaCreate = z.infer<typeof DaytonaCreate>;

/** The first problem of a zod failure as Paddock's 400, naming the field. */
export function invalid(prefix: string, error: z.ZodError): PaddockError {
  const issue = error.issues[0];
  const where = [prefix, ...(issue?.path ?? []).map(String)].filter(Boolean).join('.');
  return new PaddockError('validation_failed', `${where}: ${issue?.message ?? 'invalid'}`);
}

/** The idle TTL for Daytona's minutes of inactivity; 0 (never) is the longest this runner allows. */
export function idleTimeoutMs(config: Config, minutes: number): number {
  if (minutes === 0) return config.sandboxes.max_lifetime_ms;
  return Math.max(1000, minutes * config.daytona.minute_ms);
}

/**
 * A Daytona create request as Paddock's own (src/sandboxes/spec.ts), checked by the same schema
 * as POST /v1/sandboxes: resources in GiB become limits in MiB (above the runner's caps: 400),
 * autoStopInterval is the idle TTL, the snapshot or FROM line names the image.
 */
export function nativeCreate(body: DaytonaCreate, config: Config): SandboxCreate {
  if (body.public) throw notSupported('public sandboxes');
  for (const key of Object.keys(body.labels)) {
    if (key.startsWith(OWN_LABEL)) throw new PaddockError('validation_failed', `labels.${key}: the prefix ${OWN_LABEL} is Paddock's own`);
  }
  const dockerfile = body.buildInfo?.dockerfileContent;
  const image = dockerfile !== undefined ? imageOfDockerfile(dockerfile) : paddockImage(body.snapshot);
  const own: Record<string, string> = {
    ...(body.name ? { [NAME_LABEL]: body.name } : {}),
    ...(body.snapshot ? { [SNAPSHOT_LABEL]: body.snapshot } : {}),
    ...(body.autoArchiveInterval !== undefined ? { [ARCHIVE_LABEL]: String(body.autoArchiveInterval) } : {}),
    ...(body.autoDeleteInterval !== undefined ? { [DELETE_LABEL]: String(body.autoDeleteInterval) } : {}),
  };
  const parsed = SandboxCreate.safeParse({
    image,
    env: body.env,
    labels: { ...body.labels, ...own },
    limits: {
      // Daytona's commands run until they end: each exec may take as long as this runner allows.
      timeout_ms: config.limits.max.timeout_ms,
      ...(body.cpu !== undefined ? { cpus: body.cpu } : {}),
      ...(body.memory !== undefined ? { memory_mb: Math.ceil(body.memory * 1024) } : {}),
      ...(body.disk !== undefined ? { disk_mb: Math.ceil(body.disk * 1024) } : {}),
    },
    timeout_ms: idleTimeoutMs(config, body.autoStopInterval ?? DEFAULT_AUTO_STOP_MIN),
  });
  if (!parsed.success) throw invalid('', parsed.error);
  return parsed.data;
}
