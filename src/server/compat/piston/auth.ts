import type { FastifyRequest } from 'fastify';
import { createToken, type Principal, quotasOf, requireScope, type Scope, verifyToken } from '../../../auth/tokens.js';
import { PaddockError } from '../../../errors.js';
import type { Store } from '../../../store/store.js';

/** The token loopback clients without one stand for (judge.piston_open_loopback): it owns their jobs, its quotas bind them. */
export const PISTON_TOKEN_NAME = 'piston-compat';
const PISTON_SCOPES: Scope[] = ['jobs:read', 'jobs:write'];

const LOOPBACK = new Set(['127.0.0.1', '::1', '::ffff:127.0.0.1']);

const tokenIds = new WeakMap<Store, Promise<string>>();

/** The piston-compat token record, made once; its own bearer secret is never shown. Read each time, so a revoke applies at once. */
async function openPrincipal(store: Store): Promise<Principal> {
  let id = tokenIds.get(store);
  if (!id) {
    id = (async () => {
      const named = (await store.listTokens()).filter((r) => r.name === PISTON_TOKEN_NAME);
      return (named.find((r) => !r.revoked_at) ?? named[0] ?? (await createToken(store, PISTON_TOKEN_NAME, PISTON_SCOPES)).row).id;
    })();
    tokenIds.set(store, id);
    id.catch(() => tokenIds.delete(store));
  }
  const row = await store.getToken(await id);
  if (!row || row.revoked_at) throw new PaddockError('unauthorized', `token ${PISTON_TOKEN_NAME} is revoked`);
  return { tokenId: row.id, name: row.name, scopes: JSON.parse(row.scopes) as Scope[], quotas: quotasOf(row) };
}

/**
 * Who a Piston request is. Piston has no auth, Paddock keeps its own: a bearer token with the route's
 * scope, as on every route. Only with `open` (judge.piston_open_loopback) may a request from the
 * loopback address that brings no Authorization header in as the piston-compat token. The address
 * is the socket's own (no X-Forwarded-For is read), which is why a proxy on this host must not front it.
 */
export async function pistonPrincipal(request: FastifyRequest, store: Store, scope: Scope, open: boolean): Promise<Principal> {
  const header = request.headers.authorization;
  if (header === undefined && open && LOOPBACK.has(request.socket.remoteAddress ?? '')) {
    const principal = await openPrincipal(store);
    requireScope(principal, scope);
    return principal;
  }
  const token = header?.startsWith('Bearer ') ? header.slice(7).trim() : undefined;
  const principal = await verifyToken(store, token);
  requireScope(principal, scope);
  return principal;
}
