import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { PaddockError } from '../../../errors.js';
import type { PreviewGrant, PreviewTokens } from '../../../sandboxes/preview-tokens.js';
import { parsePort } from './preview-host.js';
import { PREVIEW_COOKIE, PREVIEW_HEADER, previewCookies, splitPreviewQuery } from './preview-wire.js';
import { upgradeOf } from './preview-tunnel.js';

/** Requests let in by a preview token rather than an API token, with what the token allows. */
const grants = new WeakMap<FastifyRequest, PreviewGrant>();

export const previewGrant = (request: FastifyRequest): PreviewGrant | undefined => grants.get(request);

const headerValues = (v: string | string[] | undefined): string[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);

/**
 * The second half of a preview's auth (the first, a bearer token with
 * `sandboxes:read`, is installAuth's; routes with `config.preview` let a
 * request without Authorization through to here): a preview token from
 * `X-Paddock-Preview-Token`, `?paddock_preview_token=` or the cookie, valid for
 * this sandbox and port; none is `401`. A valid token in the query of a
 * GET/HEAD becomes an HttpOnly cookie scoped to this preview (its path prefix,
 * or the preview host), and the browser is sent to the same URL without it, so
 * the page's own requests carry it.
 */
export function installPreviewAuth(app: FastifyInstance, tokens: PreviewTokens, prefixOf: (request: FastifyRequest) => string): void {
  app.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
    if (request.principal) return;
    const { id, port: rawPort } = request.params as { id: string; port: string };
    const port = parsePort(rawPort);
    const fromQuery = splitPreviewQuery(request.originalUrl);
    const fromHeader = headerValues(request.headers[PREVIEW_HEADER]);
    const fromCookie = previewCookies(request.headers.cookie);
    const offered = fromHeader.length + fromQuery.tokens.length + fromCookie.length;
    if (offered === 0) {
      throw new PaddockError(
        'unauthorized',
        'a preview needs a bearer token (scope sandboxes:read) or a preview token (POST /v1/sandboxes/:id/preview-tokens)',
      );
    }
    const viaQuery = port === undefined ? undefined : tokens.check(fromQuery.tokens, id, port);
    const grant = viaQuery ?? (port === undefined ? undefined : tokens.check([...fromHeader, ...fromCookie], id, port));
    if (!grant) throw new PaddockError('unauthorized', 'the preview token is invalid or expired, or not for this sandbox and port');
    grants.set(request, grant);
    if (!viaQuery || (request.method !== 'GET' && request.method !== 'HEAD') || upgradeOf(request.raw)) return;
    const token = fromQuery.tokens.find((t) => tokens.check([t], id, port!));
    const maxAge = Math.max(1, Math.floor((grant.expiresAt - Date.now()) / 1000));
    const secure = request.protocol === 'https' ? '; Secure' : '';
    return reply
      .code(302)
      .header('set-cookie', `${PREVIEW_COOKIE}=${token}; Path=${prefixOf(request) || '/'}; Max-Age=${maxAge}; HttpOnly; SameSite=Lax${secure}`)
      // One leading slash: `//host/…` would be a redirect off the preview (by host name the path is the client's).
      .header('location', fromQuery.url.replace(/^\/+/, '/'))
      .header('cache-control', 'no-store')
      .send();
  });
}
