import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { type Principal, requireScope, type Scope, verifyToken } from '../../../auth/tokens.js';
import { PaddockError } from '../../../errors.js';
import type { Runtime } from '../../../runtime.js';
import type { LiveSandbox } from '../../../sandboxes/live.js';

/**
 * The SDK's API key (`X-API-KEY`) is a Paddock token: the same tenancy, scopes and quotas as
 * the native API. Only read here, for the control routes; a missing or bad one is `401`.
 */
export async function apiKeyPrincipal(request: FastifyRequest, rt: Runtime, scope: Scope): Promise<Principal> {
  const key = request.headers['x-api-key'];
  const principal = await verifyToken(rt.store, typeof key === 'string' ? key.trim() : undefined);
  requireScope(principal, scope);
  return principal;
}

/**
 * envd's `X-Access-Token`: a credential for one sandbox's in-sandbox API, handed out with the
 * sandbox (create, connect). An HMAC of the sandbox id under a key made at start-up: nothing is
 * stored, it is the same on every connect, and it ends with the process (as the sandbox does).
 */
export class EnvdTokens {
  private readonly key = randomBytes(32);

  of(sandboxId: string): string {
    return `e2b_envd_${createHmac('sha256', this.key).update(sandboxId).digest('base64url')}`;
  }

  /**
   * The live sandbox the request names (`E2b-Sandbox-Id`) if its token matches (else `401`), and
   * its owner as the principal to act as: the token reaches that one sandbox, as its owner could.
   */
  check(request: FastifyRequest, rt: Runtime): { live: LiveSandbox; owner: Principal } {
    const id = request.headers['e2b-sandbox-id'];
    const token = request.headers['x-access-token'];
    if (typeof id !== 'string' || !/^sbx_[0-9a-z]{26}$/.test(id)) {
      throw new PaddockError('validation_failed', 'the E2b-Sandbox-Id header must name a sandbox');
    }
    const want = Buffer.from(this.of(id));
    const got = Buffer.from(typeof token === 'string' ? token : '');
    if (got.length !== want.length || !timingSafeEqual(got, want)) throw new PaddockError('unauthorized', 'X-Access-Token is not valid for this sandbox');
    const live = rt.sandboxes.liveById(id);
    if (!live || live.ending || live.row.token_id === null) throw new PaddockError('not_found', `sandbox ${id} is not running`);
    const none = { max_queued: null, max_running: null, submits_per_s: null, max_streams: null, max_sandboxes: null };
    return { live, owner: { tokenId: live.row.token_id, name: 'e2b-envd', scopes: ['sandboxes:read', 'sandboxes:write'], quotas: none } };
  }
}
