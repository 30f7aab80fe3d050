import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { PaddockError } from '../../../errors.js';
import type { Runtime } from '../../../runtime.js';
import type { AgentClient } from '../../../sandbox/agent/agent-client.js';
import { ProblemView } from '../schemas.js';
import { installPreviewAuth, previewGrant } from './preview-auth.js';
import { BAD_PREVIEW_HOST_PATH, hostTarget, parsePort } from './preview-host.js';
import { proxyHttp } from './preview-proxy.js';
import { proxyUpgrade, routeUpgrades, upgradeOf } from './preview-tunnel.js';
import { type PreviewTarget, splitPreviewQuery } from './preview-wire.js';
import { errors, SandboxParams } from './view.js';

const PortParam = z.string().refine((p) => parsePort(p) !== undefined, 'must be a port, 1–65535');
const PreviewParams = SandboxParams.extend({ port: PortParam, '*': z.string().optional() });

/** `/v1/sandboxes/:id/ports/:port` as the client wrote it (also its cookie's path); what follows is the sandbox's path. */
const MOUNT_RE = /^\/v1\/sandboxes\/[^/?]+\/ports\/[^/?]+/;

/** The client's path prefix: '' by host name (the path is the sandbox's own). */
function prefixOf(request: FastifyRequest): string {
  return hostTarget(request.raw) ? '' : (MOUNT_RE.exec(request.url)?.[0] ?? '');
}

/** Where a preview request goes; its path is taken from the raw URL, so what the client encoded stays encoded. */
function targetOf(request: FastifyRequest): PreviewTarget {
  const { id, port } = request.params as { id: string; port: string };
  const prefix = prefixOf(request);
  const rest = prefix ? request.url.slice(prefix.length) : request.originalUrl;
  const path = splitPreviewQuery(rest.startsWith('/') ? rest : `/${rest}`).url;
  return { id, port: parsePort(port)!, path, prefix };
}

/** Preview connections open at once per sandbox: the agent's 1024 streams are shared with execs and files. */
export const MAX_PREVIEWS = 512;
const openPreviews = new Map<string, number>();

/** Runs `fn` as one of at most MAX_PREVIEWS open previews of the sandbox (beyond: `429 too_many_streams`). */
async function counted<T>(id: string, fn: () => Promise<T>): Promise<T> {
  const n = openPreviews.get(id) ?? 0;
  if (n >= MAX_PREVIEWS) {
    throw new PaddockError('too_many_streams', `sandbox ${id} has ${MAX_PREVIEWS} previews open`, { limit: MAX_PREVIEWS, retry_after_s: 1 });
  }
  openPreviews.set(id, n + 1);
  try {
    return await fn();
  } finally {
    const left = openPreviews.get(id)! - 1;
    if (left === 0) openPreviews.delete(id);
    else openPreviews.set(id, left);
  }
}

/**
 * Runs `fn` with the sandbox's agent, the sandbox in use meanwhile (its idle
 * TTL starts again before and after, and it is not idle while a preview is
 * open). An API token sees its own sandboxes (another's is `404`); a preview
 * token names its sandbox, which must be running (paused: `409`).
 */
async function withSandbox<T>(rt: Runtime, request: FastifyRequest, id: string, fn: (agent: AgentClient) => Promise<T>): Promise<T> {
  if (!previewGrant(request)) return rt.sandboxes.use(id, request.principal, fn);
  const live = rt.sandboxes.liveById(id);
  if (!live || live.ending || live.row.state !== 'running') {
    const state = !live || live.ending ? 'destroyed' : live.row.state;
    throw new PaddockError('conflict', `sandbox ${id} is ${state}`, { state });
  }
  live.busy++;
  rt.sandboxes.touch(live);
  try {
    return await fn(live.agent);
  } finally {
    live.busy--;
    rt.sandboxes.touch(live);
  }
}

/**
 * Previews: HTTP and WebSocket (any Upgrade) into a port of a sandbox, at
 * `/v1/sandboxes/:id/ports/:port/…` and, with `sandboxes.preview_domain`, at
 * `<port>-<id>.<domain>` (rewritten to the same route, see preview-host.ts);
 * preview tokens for sharing one without an API token.
 */
export function sandboxPreviewRoutes(app: FastifyInstance, rt: Runtime): void {
  const idleMs = rt.config.sandboxes.preview_idle_ms;
  const tunnels = routeUpgrades(app);

  void app.register(async (p) => {
    // Bodies are the client's bytes, streamed to the sandbox as they come: no parsing, no size cap.
    p.removeAllContentTypeParsers();
    p.addContentTypeParser('*', (_request, _payload, done) => done(null));
    installPreviewAuth(p, rt.sandboxes.previewTokens, prefixOf);
    for (const url of ['/v1/sandboxes/:id/ports/:port', '/v1/sandboxes/:id/ports/:port/*']) {
      p.withTypeProvider<ZodTypeProvider>().route({
        method: ['DELETE', 'GET', 'HEAD', 'PATCH', 'POST', 'PUT', 'OPTIONS'],
        url,
        config: { scope: 'sandboxes:read', preview: true },
        schema: {
          summary: 'Preview: HTTP or WebSocket into a port of the sandbox',
          description:
            'The request goes to 127.0.0.1:`port` inside with the rest of the path unchanged; the answer comes back as the ' +
            'server there gave it. Authorization and preview tokens are not passed on. A bearer token (`sandboxes:read`) or a ' +
            'preview token (`X-Paddock-Preview-Token`, `?paddock_preview_token=`, or its cookie); none: `401`. ' +
            'Nobody listening: `502 preview_unreachable`; no bytes for `sandboxes.preview_idle_ms` before an answer: `504 preview_timeout`.',
          tags: ['sandbox previews'],
          params: PreviewParams,
          response: { 401: ProblemView, 404: ProblemView, 409: ProblemView, 429: ProblemView, 502: ProblemView, 504: ProblemView },
        },
        handler: async (request, reply) => {
          const t = targetOf(request);
          const upgrade = upgradeOf(request.raw);
          return withSandbox(rt, request, t.id, (agent) =>
            counted(t.id, () =>
              upgrade ? proxyUpgrade(agent, request, reply, t, idleMs, upgrade, tunnels) : proxyHttp(agent, request, reply, t, idleMs),
            ),
          );
        },
      });
    }
  });

  app.withTypeProvider<ZodTypeProvider>().post(
    '/v1/sandboxes/:id/preview-tokens',
    {
      config: { scope: 'sandboxes:write' },
      schema: {
        summary: 'Make a preview token',
        description:
          'A token that opens previews of this sandbox (of `port` only, if given) without an API token, until `ttl_ms` ' +
          'from now or the sandbox’s end. Only its hash is kept, in memory. `url` opens the preview in a browser (the token ' +
          'becomes a cookie); without `port` it is null.',
        tags: ['sandbox previews'],
        params: SandboxParams,
        body: z
          .strictObject({ port: z.number().int().min(1).max(65535).optional(), ttl_ms: z.number().int().min(1000).optional() })
          .nullish(),
        response: {
          201: z.object({ token: z.string(), port: z.number().int().nullable(), url: z.string().nullable(), expires_at: z.string() }),
          409: ProblemView,
          429: ProblemView,
          ...errors,
        },
      },
    },
    async (request, reply) => {
      const { id } = request.params;
      const live = await rt.sandboxes.running(id, request.principal);
      const { port, ttl_ms } = request.body ?? {};
      const end = Date.parse(live.row.max_lifetime_at);
      const expiresAt = ttl_ms === undefined ? end : Math.min(end, Date.now() + ttl_ms);
      const { token } = rt.sandboxes.previewTokens.issue(id, port ?? null, expiresAt);
      const url = port === undefined ? null : `${previewBase(rt, request, id, port)}/?paddock_preview_token=${token}`;
      return reply.code(201).send({ token, port: port ?? null, url, expires_at: new Date(expiresAt).toISOString() });
    },
  );

  // Host names under the preview domain that name no sandbox port (see previewHostRewrite).
  const domain = rt.config.sandboxes.preview_domain;
  if (domain) {
    app.all(BAD_PREVIEW_HOST_PATH, { schema: { hide: true } }, async (request) => {
      throw new PaddockError('validation_failed', `host ${request.headers.host} is not <port>-<sandbox id>.${domain}`);
    });
  }
}

/** The preview's origin and prefix: by host name when a domain is set (same scheme and runner port), else by path. */
function previewBase(rt: Runtime, request: FastifyRequest, id: string, port: number): string {
  const domain = rt.config.sandboxes.preview_domain;
  const runnerPort = /:([0-9]+)$/.exec(request.host)?.[1];
  if (domain) return `${request.protocol}://${port}-${id}.${domain}${runnerPort ? `:${runnerPort}` : ''}`;
  return `${request.protocol}://${request.host}/v1/sandboxes/${id}/ports/${port}`;
}
