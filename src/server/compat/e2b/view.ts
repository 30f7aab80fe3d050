import type { SandboxRow } from '../../../store/store.js';

/** The envd version Paddock answers as: octet-stream uploads (0.5.7) and closeStdin (0.5.2), no file metadata (0.6.2). */
export const ENVD_VERSION = '0.5.7';
/** E2B's fields without a Paddock column ride along as labels under this prefix, hidden from `metadata`. */
export const OWN_LABEL = 'e2b.dev/';
export const TEMPLATE_LABEL = `${OWN_LABEL}template`;
const CLIENT_ID = 'paddock';

const metadataOf = (row: SandboxRow) => Object.fromEntries(Object.entries(row.labels).filter(([k]) => !k.startsWith(OWN_LABEL)));

/** What create and connect answer (the SDK's NewSandbox → Sandbox). */
export function createdView(row: SandboxRow, envdAccessToken: string, domain: string) {
  return {
    sandboxID: row.id,
    templateID: row.labels[TEMPLATE_LABEL] ?? row.image ?? 'base',
    clientID: CLIENT_ID,
    envdVersion: ENVD_VERSION,
    envdAccessToken,
    domain: domain || null,
  };
}

/** A sandbox as `GET /sandboxes/:id` and the list show it (SandboxDetail / ListedSandbox). */
export function detailView(row: SandboxRow, domain: string) {
  const { limits } = row.spec;
  return {
    sandboxID: row.id,
    templateID: row.labels[TEMPLATE_LABEL] ?? row.image ?? 'base',
    clientID: CLIENT_ID,
    startedAt: row.created_at,
    // E2B's timeout is Paddock's idle TTL: the sandbox ends then unless used meanwhile.
    endAt: row.expires_at < row.max_lifetime_at ? row.expires_at : row.max_lifetime_at,
    envdVersion: ENVD_VERSION,
    cpuCount: limits.cpus,
    memoryMB: limits.memory_mb,
    diskSizeMB: limits.disk_mb,
    metadata: metadataOf(row),
    state: row.state === 'paused' ? 'paused' : 'running',
    allowInternetAccess: row.spec.network !== 'none',
    domain: domain || null,
  };
}
