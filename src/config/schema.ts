import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { Ipv4Cidr } from '../sandbox/egress/grammar.js';
import { ActionsConfig } from './actions.js';
import { AgentsConfig } from './agents.js';
import { CallbacksConfig } from './callbacks.js';
import { DaytonaConfig } from './daytona.js';
import { E2bConfig } from './e2b.js';
import { FleetConfig } from './fleet.js';
import { GithubConfig } from './github.js';
import { JudgeConfig } from './judge.js';
import { QemuConfig } from './qemu.js';
import { SandboxesConfig } from './sandboxes.js';
import { Limits } from './schema-limits.js';

/** Milliseconds, given as a number or as "<n>ms|s|m|h|d" (e.g. "7d"). */
const Duration = z.preprocess((v) => {
  if (typeof v !== 'string') return v;
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/.exec(v);
  if (!m) return v;
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[(m[2] ?? 'ms') as 'ms'];
  return Math.round(Number(m[1]) * unit);
}, z.number().int().min(0));

export { Limits, limitsShape } from './schema-limits.js';

const DEFAULT_LIMITS: Limits = {
  timeout_ms: 60_000,
  memory_mb: 512,
  cpu_ms: 60_000,
  pids: 128,
  output_bytes: 1024 * 1024,
  disk_mb: 64,
  open_files: 256,
  cpus: 1,
};
const MAX_LIMITS: Limits = {
  timeout_ms: 6 * 3600_000,
  memory_mb: 16_384,
  cpu_ms: 6 * 3600_000,
  pids: 4096,
  output_bytes: 64 * 1024 * 1024,
  disk_mb: 8192,
  open_files: 4096,
  cpus: Math.max(1, os.availableParallelism()),
};

export function defaultDataDir(): string {
  return process.getuid?.() === 0 ? '/var/lib/paddock' : path.join(os.homedir(), '.paddock');
}

export const ConfigSchema = z.strictObject({
  host: z.string().min(1).default('127.0.0.1'),
  port: z.number().int().min(0).max(65535).default(7878),
  data_dir: z.string().min(1).default(defaultDataDir),
  /**
   * `sqlite:<path>` (one host; empty means `sqlite:<data_dir>/paddock.db`) or
   * `postgres://user:password@host:port/database` (a fleet: every host on one database).
   */
  store_url: z
    .string()
    .refine((v) => v === '' || v.startsWith('sqlite:') || /^postgres(ql)?:\/\/./.test(v), {
      message: 'must be sqlite:<path> or postgres://user:password@host:port/database',
    })
    .default(''),
  /** Names this runner in jobs it owns; a fleet needs it unique per host. */
  host_id: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/, 'must be a host name: letters, digits, . _ - (at most 63)')
    .default(() => os.hostname()),
  log_level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  max_concurrent_jobs: z.number().int().min(1).max(1024).default(() => os.availableParallelism()),
  /**
   * On SIGTERM/SIGINT, how long running jobs may still finish (nothing new is claimed meanwhile); then the
   * rest are handed back (requeued: retry_on_restart, or in a fleet a retry-safe kind) or fail runner_shutdown.
   */
  shutdown_grace_ms: z.number().int().min(0).max(3_600_000).default(10_000),
  body_limit_bytes: z.number().int().min(1024).default(8 * 1024 * 1024),
  /** Cap on how long `POST /v1/jobs?wait=true` holds a request open. */
  wait_max_ms: z.number().int().min(0).default(300_000),
  /** Connection and stream bounds; 0 means derived from the process's open-files limit (src/server/fd-budget.ts). */
  http: z
    .strictObject({
      /** Open connections at once (Node's server.maxConnections; beyond it a connection is closed on accept). */
      max_connections: z.number().int().min(0).default(0),
      /** Open event streams at once, all tokens together; beyond it `429 too_many_streams`. */
      max_streams: z.number().int().min(0).default(0),
      /** Bytes an event stream may have waiting for a slow reader before it is cut off (it resumes with Last-Event-ID). */
      stream_buffer_bytes: z.number().int().min(16 * 1024).default(256 * 1024),
      /** A response or stream whose reader takes no byte for this long while data waits is cut off. */
      stall_ms: z.number().int().min(500).default(30_000),
      /** Listen backlog: connections the kernel holds during a burst until they are accepted (capped by somaxconn). */
      backlog: z.number().int().min(1).max(65_535).default(4096),
      /** API requests waiting for their turn (src/server/request-lane.ts); beyond it `429 overloaded`. */
      max_pending: z.number().int().min(1).default(10_000),
    })
    .default({ max_connections: 0, max_streams: 0, stream_buffer_bytes: 256 * 1024, stall_ms: 30_000, backlog: 4096, max_pending: 10_000 }),
  limits: z
    .strictObject({
      default: Limits.partial().default({}),
      max: Limits.partial().default({}),
    })
    .default({ default: {}, max: {} }),
  /** Sandbox drivers this runner may use (PADDOCK_DRIVERS=bwrap,docker); `auto` picks the strongest of them. */
  drivers: z
    .preprocess(
      (v) => (typeof v === 'string' ? v.split(',').map((d) => d.trim()).filter(Boolean) : v),
      z.array(z.enum(['gvisor', 'docker', 'bwrap', 'qemu'])).min(1),
    )
    .default(['gvisor', 'docker', 'bwrap']),
  /** Where built images live (`<name>/rootfs` + `image.json`); empty means `<data_dir>/images`. */
  images_dir: z.string().default(''),
  images: z
    .strictObject({
      /** Debian mirror debootstrap and apt use when building images. */
      mirror: z.string().url().default('http://deb.debian.org/debian'),
      suite: z.string().min(1).default('bookworm'),
    })
    .default({ mirror: 'http://deb.debian.org/debian', suite: 'bookworm' }),
  docker: z
    .strictObject({
      socket: z.string().min(1).default('/var/run/docker.sock'),
      /** Image a docker/gvisor job runs in when it names none. */
      default_image: z.string().min(1).default('base'),
      /**
       * Host uids for containers: each container (pool items too) gets its own uid
       * from [uid_range_start, uid_range_start + uid_range_size) while it exists, so
       * per-uid kernel limits (inotify instances, processes) are never shared.
       * Distinct from sandbox.host_uid (bwrap); runners sharing a host need disjoint ranges.
       */
      uid_range_start: z.number().int().min(1000).max(2 ** 31 - 70_000).default(200_000),
      uid_range_size: z.number().int().min(1).max(65_536).default(1000),
      /**
       * The in-sandbox agent as the Docker Engine sees it (it is bind-mounted into every container); empty:
       * this package's dist/agent/paddock-agent. A runner in a container sets a path both see (deploy/compose).
       */
      agent_path: z.string().default('').refine((p) => p === '' || p.startsWith('/'), 'must be an absolute path'),
    })
    .default({ socket: '/var/run/docker.sock', default_image: 'base', uid_range_start: 200_000, uid_range_size: 1000, agent_path: '' }),
  qemu: QemuConfig,
  pool: z
    .strictObject({
      /** Started, idle containers kept per (driver, image, limits); 0 turns the warm pool off. */
      size: z.number().int().min(0).max(64).default(2),
      /** Limits classes kept warm at once (least recently used beyond it are let go). */
      max_classes: z.number().int().min(1).max(64).default(4),
      /** A class unused this long is let go. */
      idle_ms: z.number().int().min(1000).default(600_000),
    })
    .default({ size: 2, max_classes: 4, idle_ms: 600_000 }),
  /** Admission control (see src/jobs/admission.ts). */
  queue: z
    .strictObject({
      /** Jobs queued at once across all tokens; a submit beyond it is `429 queue_full`. */
      max_queued: z.number().int().min(1).default(10_000),
      /** Largest `queue_timeout_ms` a job may ask for (above it: `422 limit_exceeded`). */
      max_timeout_ms: z.number().int().min(1).default(7 * 86_400_000),
      /** How often queued jobs past their `queue_timeout_ms` are expired. */
      sweep_ms: z.number().int().min(50).default(1000),
    })
    .default({ max_queued: 10_000, max_timeout_ms: 7 * 86_400_000, sweep_ms: 1000 }),
  /** Per-token quotas for tokens whose record leaves one unset (`token create --max-*`); 0 = no limit. */
  quotas: z
    .strictObject({
      max_queued: z.number().int().min(0).default(0),
      /** A token's jobs beyond it stay queued (they are not refused). */
      max_running: z.number().int().min(0).default(0),
      submits_per_s: z.number().int().min(0).default(0),
      max_streams: z.number().int().min(0).default(100),
      /** Live sandboxes (POST /v1/sandboxes) a token may hold at once; beyond it `429 quota_exceeded`. */
      max_sandboxes: z.number().int().min(0).default(0),
    })
    .default({ max_queued: 0, max_running: 0, submits_per_s: 0, max_streams: 100, max_sandboxes: 0 }),
  /** Persistent sandboxes (src/sandboxes/). */
  sandboxes: SandboxesConfig,
  /** `network: "egress"` sandboxes reach the public internet only (see src/sandbox/docker/network.ts). */
  egress: z
    .strictObject({
      /** IPv4 CIDRs egress jobs may reach although private, link-local or the host's own (an internal proxy, say). */
      allow_cidrs: z
        .preprocess(
          (v) => (typeof v === 'string' ? v.split(',').map((c) => c.trim()).filter(Boolean) : v),
          z.array(Ipv4Cidr).max(256),
        )
        .default([]),
      /** DNS (port 53) to the host's resolvers from /etc/resolv.conf, so Docker's embedded DNS can answer. */
      dns: z.boolean().default(true),
    })
    .default({ allow_cidrs: [], dns: true }),
  /** How long finished jobs (with their events and output) are kept; see src/storage/retention.ts. */
  retention: z
    .strictObject({
      /** Finished jobs older than this are pruned: ms, or a duration such as "7d", "12h", "30m"; 0 = no age limit. */
      max_age: Duration.default(7 * 86_400_000),
      /** At most this many finished jobs are kept (the newest); 0 = no count limit. */
      max_jobs: z.number().int().min(0).default(10_000),
      /** How often the background pruning runs. */
      interval_ms: z.number().int().min(100).default(60_000),
    })
    .default({ max_age: 7 * 86_400_000, max_jobs: 10_000, interval_ms: 60_000 }),
  /** Disk space for the store (the data dir); see src/storage/guard.ts. */
  storage: z
    .strictObject({
      /** Below this much free space in the data dir, new jobs are refused with `507 storage_full`. */
      min_free_mb: z.number().int().min(0).default(256),
      /**
       * A file of this size kept in the data dir and given up when the disk fills,
       * so the runner can still record the end of the jobs it is running; 0 = none.
       */
      reserve_mb: z.number().int().min(0).default(16),
    })
    .default({ min_free_mb: 256, reserve_mb: 16 }),
  sandbox: z
    .strictObject({
      /**
       * When Paddock runs as root, each running bwrap sandbox gets its own host uid (= gid) from
       * uid_range_start … uid_range_start + uid_range_size - 1, so per-uid kernel limits of one job
       * cannot starve another. Never root; give each runner on a host its own range.
       */
      uid_range_start: z.number().int().min(1).max(2 ** 31).default(61000),
      uid_range_size: z.number().int().min(1).max(2 ** 20).default(1000),
      bwrap_path: z.string().default('bwrap'),
      /** `auto` uses cgroup v1 controllers when running as root; `off` relies on rlimits only. */
      cgroups: z.enum(['auto', 'off']).default('auto'),
      /**
       * The weakest isolation `driver: auto` may pick: namespaces < container < gvisor < microvm.
       * `auto`: the strongest available at start-up (per network mode).
       */
      min_isolation: z.enum(['auto', 'namespaces', 'container', 'gvisor', 'microvm']).default('auto'),
    })
    .default({ uid_range_start: 61000, uid_range_size: 1000, bwrap_path: 'bwrap', cgroups: 'auto', min_isolation: 'auto' }),
  agents: AgentsConfig,
  github: GithubConfig,
  actions: ActionsConfig,
  judge: JudgeConfig,
  callbacks: CallbacksConfig,
  daytona: DaytonaConfig,
  e2b: E2bConfig,
  fleet: FleetConfig,
});

export type ConfigInput = z.input<typeof ConfigSchema>;
type Parsed = z.infer<typeof ConfigSchema>;

/** The resolved config every component receives: limits filled in, store URL derived. */
export interface Config extends Omit<Parsed, 'limits'> {
  limits: { default: Limits; max: Limits };
}

export function finishConfig(parsed: Parsed): Config {
  const max = { ...MAX_LIMITS, ...parsed.limits.max };
  const def = { ...DEFAULT_LIMITS, ...parsed.limits.default };
  for (const key of Object.keys(def) as (keyof Limits)[]) def[key] = Math.min(def[key], max[key]);
  return {
    ...parsed,
    store_url: parsed.store_url || `sqlite:${path.join(parsed.data_dir, 'paddock.db')}`,
    images_dir: parsed.images_dir || path.join(parsed.data_dir, 'images'),
    limits: { default: def, max },
  };
}

/** Keys whose values are secret or may embed one; `config print` redacts them. */
export const SECRET_KEYS = new Set([
  'store_url',
  'agents.model_api.api_key',
  'agents.runner_secret',
  'github.token',
  'github.private_key',
  'github.webhook_secret',
  'callbacks.secret',
]);
