import type { FastifyRequest } from 'fastify';
import type { Config } from '../../../config/schema.js';
import type { SandboxRow } from '../../../store/store.js';

/**
 * Daytona's fields Paddock has no column for ride along as labels under this prefix, which the
 * Daytona view hides and a user may not set: the name, the snapshot asked for, and the archive and
 * delete intervals (accepted and shown back; Paddock neither archives nor keeps a stopped sandbox).
 */
export const OWN_LABEL = 'daytona.io/';
export const NAME_LABEL = `${OWN_LABEL}name`;
export const SNAPSHOT_LABEL = `${OWN_LABEL}snapshot`;
export const ARCHIVE_LABEL = `${OWN_LABEL}auto-archive`;
export const DELETE_LABEL = `${OWN_LABEL}auto-delete`;

/** The user Daytona reports; Paddock's sandboxes run as one unprivileged user whatever the image. */
const USER = 'sandbox';
const ORGANIZATION = 'paddock';

/**
 * Paddock's states in Daytona's words: running is `started`; paused (what stop does here) is
 * `stopped`; a sandbox whose agent or container died is `error` with its reason, so the SDK's
 * waits fail at once; every other end (deleted, idle TTL, lifetime, runner stopped) is `destroyed`.
 */
export function daytonaState(row: Pick<SandboxRow, 'state' | 'reason'>): 'started' | 'stopped' | 'destroyed' | 'error' {
  if (row.state === 'running') return 'started';
  if (row.state === 'paused') return 'stopped';
  return row.reason === 'died' ? 'error' : 'destroyed';
}

/** The origin the SDK reaches the toolbox at: `daytona.public_url`, else the one this request came to. */
export function toolboxUrl(config: Config, request: FastifyRequest): string {
  const origin = config.daytona.public_url || `${request.protocol}://${request.host}`;
  return `${origin}${config.daytona.prefix}/toolbox`;
}

/** Minutes of `daytona.minute_ms`, rounded up; an idle TTL as long as the lifetime is "never" (0). */
export function autoStopMinutes(config: Config, row: SandboxRow): number {
  if (row.spec.timeout_ms >= config.sandboxes.max_lifetime_ms) return 0;
  return Math.ceil(row.spec.timeout_ms / config.daytona.minute_ms);
}

const intervalLabel = (row: SandboxRow, key: string, fallback: number) => {
  const v = Number(row.labels[key]);
  return Number.isInteger(v) && v >= 0 ? v : fallback;
};

/** A Paddock sandbox as Daytona's `Sandbox` DTO (@daytona/api-client models/sandbox.d.ts). */
export function sandboxDto(row: SandboxRow, config: Config, toolboxProxyUrl: string) {
  const labels = Object.fromEntries(Object.entries(row.labels).filter(([k]) => !k.startsWith(OWN_LABEL)));
  const { limits } = row.spec;
  const state = daytonaState(row);
  return {
    id: row.id,
    organizationId: ORGANIZATION,
    name: row.labels[NAME_LABEL] ?? row.id,
    snapshot: row.labels[SNAPSHOT_LABEL] ?? row.image ?? undefined,
    user: USER,
    // Not shown back, as on the native API (names only there): values may be secrets, and the creator has them.
    env: {},
    labels,
    public: false,
    networkBlockAll: row.spec.network === 'none',
    target: row.host_id,
    cpu: limits.cpus,
    gpu: 0,
    memory: limits.memory_mb / 1024,
    disk: limits.disk_mb / 1024,
    state,
    desiredState: state === 'started' ? 'started' : state === 'stopped' ? 'stopped' : 'destroyed',
    ...(state === 'error' ? { errorReason: row.detail ?? 'the sandbox died' } : {}),
    autoStopInterval: autoStopMinutes(config, row),
    autoArchiveInterval: intervalLabel(row, ARCHIVE_LABEL, 0),
    autoDeleteInterval: intervalLabel(row, DELETE_LABEL, -1),
    autoDestroyAt: row.max_lifetime_at,
    createdAt: row.created_at,
    updatedAt: row.ended_at ?? row.last_used_at,
    lastActivityAt: row.last_used_at,
    sandboxClass: 'container',
    daemonVersion: 'paddock',
    toolboxProxyUrl,
  };
}
export type SandboxDto = ReturnType<typeof sandboxDto>;
