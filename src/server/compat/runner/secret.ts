import { createHash, timingSafeEqual } from 'node:crypto';
import { createToken, type Principal, quotasOf, type Scope } from '../../../auth/tokens.js';
import { PaddockError } from '../../../errors.js';
import type { Store } from '../../../store/store.js';

/** The token the shared secret of the runner-compat routes stands for: it owns the jobs they start. */
export const COMPAT_TOKEN_NAME = 'runner-compat';
const COMPAT_SCOPES: Scope[] = ['jobs:read', 'jobs:write'];

const digest = (s: string) => createHash('sha256').update(s).digest();

/** True when `presented` is the configured secret; constant time, and never for an empty secret. */
export function runnerSecretMatches(configured: string, presented: string | undefined): boolean {
  if (configured === '' || presented === undefined) return false;
  return timingSafeEqual(digest(configured), digest(presented));
}

const tokenIds = new WeakMap<Store, Promise<string>>();

/**
 * The principal of a request that brought `X-Runner-Secret` (existing runner clients know no
 * bearer tokens): a token record named runner-compat, made once, whose own bearer secret is
 * never shown. Its quotas apply to those clients like any token's; revoking it turns them away.
 */
export async function runnerSecretPrincipal(store: Store, configured: string, presented: string | undefined): Promise<Principal> {
  if (!runnerSecretMatches(configured, presented)) {
    throw new PaddockError('unauthorized', configured === '' ? 'the runner-compat routes are off (agents.runner_secret)' : 'X-Runner-Secret is wrong');
  }
  let id = tokenIds.get(store);
  if (!id) {
    id = (async () => {
      const named = (await store.listTokens()).filter((r) => r.name === COMPAT_TOKEN_NAME);
      return (named.find((r) => !r.revoked_at) ?? named[0] ?? (await createToken(store, COMPAT_TOKEN_NAME, COMPAT_SCOPES)).row).id;
    })();
    tokenIds.set(store, id);
    id.catch(() => tokenIds.delete(store));
  }
  // Read on every request, so a revoke or a changed quota applies at once.
  const row = await store.getToken(await id);
  if (!row || row.revoked_at) throw new PaddockError('unauthorized', `token ${COMPAT_TOKEN_NAME} is revoked`);
  return { tokenId: row.id, name: row.name, scopes: JSON.parse(row.scopes) as Scope[], quotas: quotasOf(row) };
}
