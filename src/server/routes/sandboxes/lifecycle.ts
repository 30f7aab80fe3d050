import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { ownerFilter } from '../../../auth/ownership.js';
import { PaddockError } from '../../../errors.js';
import type { Runtime } from '../../../runtime.js';
import { SANDBOX_STATES, SandboxCreate } from '../../../sandboxes/spec.js';
import { LABEL_KEY_RE } from '../../../util/grammar.js';
import { ProblemView } from '../schemas.js';
import { errors, SandboxParams, SandboxView, sandboxView } from './view.js';

/** `label=k=v`, once or repeated, as a record; a malformed one is a 400 naming it. */
function labelFilter(raw: string | string[] | undefined): Record<string, string> | undefined {
  if (raw === undefined) return undefined;
  const out: Record<string, string> = {};
  for (const item of Array.isArray(raw) ? raw : [raw]) {
    const eq = item.indexOf('=');
    const key = eq > 0 ? item.slice(0, eq) : '';
    if (!LABEL_KEY_RE.test(key)) throw new PaddockError('validation_failed', `querystring.label: "${item}" is not key=value`);
    out[key] = item.slice(eq + 1);
  }
  return out;
}

/** Create, read, list, delete, TTL, pause and resume. */
export function sandboxLifecycleRoutes(app: FastifyInstance, rt: Runtime): void {
  const r = app.withTypeProvider<ZodTypeProvider>();

  r.post(
    '/v1/sandboxes',
    {
      config: { scope: 'sandboxes:write', sandboxCreate: true },
      schema: {
        summary: 'Create a persistent sandbox',
        description:
          'Starts a sandbox that stays up between execs until it is deleted, idle for `timeout_ms` ' +
          '(default `sandboxes.default_timeout_ms`; every use starts it again) or older than `max_lifetime_ms`. ' +
          'With `snapshot`, it starts with that snapshot’s files (and its image, unless `image` is given). ' +
          'Over the token’s `quotas.max_sandboxes` or the runner’s `sandboxes.max_live`: `429 quota_exceeded`.',
        tags: ['sandboxes'],
        body: SandboxCreate,
        response: { 201: SandboxView, 429: ProblemView, 503: ProblemView, 507: ProblemView, ...errors },
      },
    },
    async (request, reply) => {
      rt.storage.checkSubmit();
      const tenant = { tokenId: request.principal?.tokenId ?? null, quotas: request.principal?.quotas };
      const { snapshot, ...req } = request.body;
      const row = snapshot
        ? await rt.snapshots.createFrom(snapshot, req, tenant, request.principal)
        : await rt.sandboxes.create(req, tenant);
      reply.header('location', `/v1/sandboxes/${row.id}`);
      return reply.code(201).send(sandboxView(row));
    },
  );

  r.get(
    '/v1/sandboxes',
    {
      config: { scope: 'sandboxes:read' },
      schema: {
        summary: 'List sandboxes, newest first',
        description: '`label=k=v` (repeatable) keeps sandboxes with all those labels. Deleted sandboxes are not listed.',
        tags: ['sandboxes'],
        querystring: z.strictObject({
          state: z.enum(SANDBOX_STATES).optional(),
          label: z.union([z.string(), z.array(z.string())]).optional(),
          limit: z.coerce.number().int().min(1).max(500).default(50),
          cursor: z.string().min(1).max(100).optional(),
        }),
        response: { 200: z.object({ items: z.array(SandboxView), next_cursor: z.string().nullable() }), ...errors },
      },
    },
    async (request) => {
      const { state, label, limit, cursor } = request.query;
      const page = await rt.sandboxes.list({
        state,
        labels: labelFilter(label),
        limit,
        before: cursor,
        tokenId: ownerFilter(request.principal),
      });
      return { items: page.rows.map(sandboxView), next_cursor: page.next };
    },
  );

  r.get(
    '/v1/sandboxes/:id',
    {
      config: { scope: 'sandboxes:read' },
      schema: {
        summary: 'Get a sandbox',
        description: 'Also after it ended on its own (state `destroyed` with `reason`), until it is deleted.',
        tags: ['sandboxes'],
        params: SandboxParams,
        response: { 200: SandboxView, ...errors },
      },
    },
    async (request) => sandboxView(await rt.sandboxes.get(request.params.id, request.principal)),
  );

  r.delete(
    '/v1/sandboxes/:id',
    {
      config: { scope: 'sandboxes:write' },
      schema: {
        summary: 'Destroy and forget a sandbox',
        description: 'Kills everything in it; afterwards the sandbox is `404`.',
        tags: ['sandboxes'],
        params: SandboxParams,
        response: { 204: z.null().describe('destroyed'), ...errors },
      },
    },
    async (request, reply) => {
      await rt.sandboxes.delete(request.params.id, request.principal);
      return reply.code(204).send(null);
    },
  );

  r.post(
    '/v1/sandboxes/:id/timeout',
    {
      config: { scope: 'sandboxes:write' },
      schema: {
        summary: 'Set a sandbox’s idle TTL',
        description: 'The new TTL counts from now; at most `sandboxes.max_lifetime_ms`.',
        tags: ['sandboxes'],
        params: SandboxParams,
        body: z.strictObject({ timeout_ms: z.number().int().min(1000) }),
        response: { 200: SandboxView, 409: ProblemView, ...errors },
      },
    },
    async (request) =>
      sandboxView(await rt.sandboxes.setTimeout(request.params.id, request.principal, request.body.timeout_ms)),
  );

  for (const action of ['pause', 'resume'] as const) {
    r.post(
      `/v1/sandboxes/:id/${action}`,
      {
        config: { scope: 'sandboxes:write' },
        schema: {
          summary: action === 'pause' ? 'Freeze a running sandbox' : 'Resume a paused sandbox',
          description:
            'Execs and file operations on a paused sandbox are `409 conflict`. ' +
            'A driver that cannot pause answers `422 driver_unavailable`.',
          tags: ['sandboxes'],
          params: SandboxParams,
          response: { 200: SandboxView, 409: ProblemView, ...errors },
        },
      },
      async (request) => sandboxView(await rt.sandboxes[action](request.params.id, request.principal)),
    );
  }
}
