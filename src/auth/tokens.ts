import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { PaddockError } from '../errors.js';
import type { Store, StoredQuotas, TokenRow } from '../store/store.js';

export const SCOPES = ['jobs:read', 'jobs:write', 'sandboxes:read', 'sandboxes:write', 'metrics:read', 'admin'] as const;
export type Scope = (typeof SCOPES)[number];

export interface Principal {
  tokenId: string;
  name: string;
  scopes: Scope[];
  /** From the token record on every request, so a changed quota applies at once. */
  quotas: StoredQuotas;
}

export type { StoredQuotas };

const TOKEN_RE = /^pdk_([a-z0-9]{12})_([A-Za-z0-9_-]{43})$/;

const hashSecret = (secret: string) => createHash('sha256').update(secret).digest('hex');

/**
 * Tokens look like `pdk_<id>_<secret>`. Only sha256(secret) is stored: the
 * secret has 256 random bits, so a slow hash would add cost without adding safety.
 */
export async function createToken(
  store: Store,
  name: string,
  scopes: Scope[],
  quotas: Partial<StoredQuotas> = {},
  /** `callbackSecret`: signs the status callbacks of this token's jobs that bring no secret of their own. */
  opts: { callbackSecret?: string | undefined } = {},
): Promise<{ token: string; row: TokenRow }> {
  const id = randomBytes(6).toString('hex');
  const secret = randomBytes(32).toString('base64url');
  const row = await store.insertToken({ id, name, hash: hashSecret(secret), scopes, quotas, callbackSecret: opts.callbackSecret });
  return { token: `pdk_${id}_${secret}`, row };
}

/** Resolves a presented bearer token, or throws `unauthorized` without saying which part was wrong. */
export async function verifyToken(store: Store, presented: string | undefined): Promise<Principal> {
  const m = presented ? TOKEN_RE.exec(presented) : null;
  const row = m ? await store.getToken(m[1]!) : undefined;
  // Compare even when the id is unknown, so timing does not reveal which ids exist.
  const expected = Buffer.from(row?.hash ?? '0'.repeat(64), 'hex');
  const actual = Buffer.from(hashSecret(m?.[2] ?? ''), 'hex');
  const matches = timingSafeEqual(expected, actual);
  if (!m || !row || !matches || row.revoked_at) {
    throw new PaddockError('unauthorized', presented ? 'token is invalid or revoked' : 'missing bearer token');
  }
  return { tokenId: row.id, name: row.name, scopes: JSON.parse(row.scopes) as Scope[], quotas: quotasOf(row) };
}

export function quotasOf(row: TokenRow): StoredQuotas {
  return {
    max_queued: row.max_queued,
    max_running: row.max_running,
    submits_per_s: row.submits_per_s,
    max_streams: row.max_streams,
    max_sandboxes: row.max_sandboxes,
  };
}

export function requireScope(principal: Principal, scope: Scope): void {
  if (principal.scopes.includes('admin') || principal.scopes.includes(scope)) return;
  throw new PaddockError('forbidden', `token "${principal.name}" lacks scope ${scope}`, { required: scope });
}

export function parseScopes(list: string): Scope[] {
  const scopes = list.split(',').map((s) => s.trim()).filter(Boolean);
  for (const s of scopes) {
    if (!(SCOPES as readonly string[]).includes(s)) {
      throw new PaddockError('validation_failed', `unknown scope "${s}"; scopes are ${SCOPES.join(', ')}`);
    }
  }
  if (scopes.length === 0) throw new PaddockError('validation_failed', 'give at least one scope');
  return scopes as Scope[];
}
