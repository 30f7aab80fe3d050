import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { ownerFilter } from '../../../auth/ownership.js';
import type { Principal, Scope } from '../../../auth/tokens.js';
import { PaddockError } from '../../../errors.js';
import type { Runtime } from '../../../runtime.js';
import { SandboxCreate, SandboxEnv, SandboxLabels, SNAPSHOT_ID_RE } from '../../../sandboxes/spec.js';
import type { SandboxRow } from '../../../store/store.js';
import { apiKeyPrincipal, type EnvdTokens } from './auth.js';
import { createdView, detailView, OWN_LABEL, TEMPLATE_LABEL } from './view.js';

const Params = z.object({ id: z.string().min(1).max(100) });
/** E2B's default sandbox timeout, in seconds. */
const DEFAULT_TIMEOUT_S = 300;

const Create = z.looseObject({
  templateID: z.string().min(1).max(512).default('base'),
  timeout: z.number().int().min(1).optional(),
  envVars: SandboxEnv.optional(),
  metadata: SandboxLabels.optional(),
  allow_internet_access: z.boolean().optional(),
  autoPause: z.boolean().optional(),
  volumeMounts: z.array(z.unknown()).max(0, 'volume mounts are not supported on this runner').optional(),
});

/** E2B templates as Paddock images: `base` is `base`, Python by its usual names is `python`, the rest by name. */
export function imageOfTemplate(template: string): string {
  if (/^(?:(?:docker\.io\/)?(?:library\/)?|paddock\/)?python(?::[\w.-]+)?$/.test(template)) return 'python';
  return template.startsWith('paddock/') ? template.slice('paddock/'.length).replace(/:latest$/, '') : template;
}

function parse<S extends z.ZodType>(schema: S, value: unknown): z.infer<S> {
  const r = schema.safeParse(value ?? {});
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  throw new PaddockError('validation_failed', `${issue?.path.join('.') || 'body'}: ${issue?.message ?? 'invalid'}`);
}

/** The sandbox row as this principal may see it; a destroyed one is gone as far as E2B knows. */
async function liveRow(rt: Runtime, id: string, p: Principal): Promise<SandboxRow> {
  const row = await rt.sandboxes.get(id, p).catch((err: unknown) => {
    throw err instanceof PaddockError && err.code === 'not_found' ? new PaddockError('not_found', `sandbox "${id}" not found`) : err;
  });
  if (row.state === 'destroyed') throw new PaddockError('not_found', `sandbox "${id}" not found`);
  return row;
}

/** E2B's control API (`E2B_API_URL`): create, get, list, kill, timeout, pause, connect (resume), fork, snapshots. */
export function e2bControlRoutes(app: FastifyInstance, rt: Runtime, tokens: EnvdTokens): void {
  const who = (request: FastifyRequest, scope: Scope) => apiKeyPrincipal(request, rt, scope);
  const domain = rt.config.e2b.domain;
  const tenant = (p: Principal) => ({ tokenId: p.tokenId, quotas: p.quotas });
  const timeoutMs = (s: number | undefined) => Math.min((s ?? DEFAULT_TIMEOUT_S) * 1000, rt.config.sandboxes.max_lifetime_ms);

  const create = async (request: FastifyRequest) => {
    const p = await who(request, 'sandboxes:write');
    const body = parse(Create, request.body);
    for (const key of Object.keys(body.metadata ?? {})) {
      if (key.startsWith(OWN_LABEL)) throw new PaddockError('validation_failed', `metadata.${key}: the prefix ${OWN_LABEL} is Paddock's own`);
    }
    rt.storage.checkSubmit();
    const spec = parse(SandboxCreate, {
      env: body.envVars ?? {},
      labels: { ...body.metadata, [TEMPLATE_LABEL]: body.templateID },
      network: body.allow_internet_access ? 'egress' : 'none',
      // E2B's commands run until they end: each may take as long as this runner allows.
      limits: { timeout_ms: rt.config.limits.max.timeout_ms },
      timeout_ms: timeoutMs(body.timeout),
    });
    // A Paddock snapshot's id is a template too: the sandbox starts with its files.
    const row = SNAPSHOT_ID_RE.test(body.templateID)
      ? await rt.snapshots.createFrom(body.templateID, spec, tenant(p), p)
      : await rt.sandboxes.create({ ...spec, image: imageOfTemplate(body.templateID) }, tenant(p)).catch((err: unknown) => {
          if (err instanceof PaddockError && err.code === 'image_not_found') {
            throw new PaddockError('not_found', `template "${body.templateID}" not found: ${err.message}`);
          }
          throw err;
        });
    return createdView(row, tokens.of(row.id), domain);
  };
  app.post('/v2/sandboxes', async (request, reply) => reply.code(201).send(await create(request)));
  app.post('/sandboxes', async (request, reply) => reply.code(201).send(await create(request)));

  app.get('/sandboxes/:id', async (request) => {
    const p = await who(request, 'sandboxes:read');
    return detailView(await liveRow(rt, parse(Params, request.params).id, p), domain);
  });

  const List = z.looseObject({
    metadata: z.string().max(16 * 1024).optional(),
    state: z.string().max(100).optional(),
    limit: z.coerce.number().int().min(1).max(500).default(100),
    nextToken: z.string().max(100).optional(),
  });
  const list = async (request: FastifyRequest, reply: import('fastify').FastifyReply) => {
    const p = await who(request, 'sandboxes:read');
    const q = parse(List, request.query);
    const labels = q.metadata ? Object.fromEntries(new URLSearchParams(q.metadata)) : {};
    const states = new Set((q.state ?? 'running,paused').split(',').filter(Boolean));
    const page = await rt.sandboxes.list({ tokenId: ownerFilter(p), labels, before: q.nextToken, limit: q.limit });
    const rows = page.rows.filter((r) => r.state !== 'destroyed' && states.has(r.state === 'paused' ? 'paused' : 'running'));
    if (page.next) reply.header('x-next-token', page.next);
    return rows.map((r) => detailView(r, domain));
  };
  app.get('/v2/sandboxes', list);
  app.get('/sandboxes', list);

  app.delete('/sandboxes/:id', async (request, reply) => {
    const p = await who(request, 'sandboxes:write');
    const { id } = parse(Params, request.params);
    await liveRow(rt, id, p);
    await rt.sandboxes.delete(id, p);
    return reply.code(204).send();
  });

  app.post('/sandboxes/:id/timeout', async (request, reply) => {
    const p = await who(request, 'sandboxes:write');
    const { id } = parse(Params, request.params);
    const { timeout } = parse(z.looseObject({ timeout: z.number().int().min(1) }), request.body);
    await liveRow(rt, id, p);
    await rt.sandboxes.setTimeout(id, p, timeoutMs(timeout));
    return reply.code(204).send();
  });

  app.post('/sandboxes/:id/pause', async (request, reply) => {
    const p = await who(request, 'sandboxes:write');
    const { id } = parse(Params, request.params);
    const row = await liveRow(rt, id, p);
    if (row.state === 'paused') throw new PaddockError('conflict', `sandbox "${id}" is already paused`);
    await rt.sandboxes.pause(id, p);
    return reply.code(204).send();
  });

  /** Connect: a paused sandbox is resumed; either way the timeout counts again from now. */
  const connect = async (request: FastifyRequest) => {
    const p = await who(request, 'sandboxes:write');
    const { id } = parse(Params, request.params);
    const { timeout } = parse(z.looseObject({ timeout: z.number().int().min(1).optional() }), request.body);
    const row = await liveRow(rt, id, p);
    if (row.state === 'paused') await rt.sandboxes.resume(id, p);
    const now = timeout === undefined ? await rt.sandboxes.get(id, p) : await rt.sandboxes.setTimeout(id, p, timeoutMs(timeout));
    return createdView(now, tokens.of(id), domain);
  };
  app.post('/v2/sandboxes/:id/connect', async (request, reply) => reply.code(200).send(await connect(request)));
  app.post('/sandboxes/:id/resume', async (request, reply) => reply.code(201).send(await connect(request)));

  app.post('/sandboxes/:id/fork', async (request) => {
    const p = await who(request, 'sandboxes:write');
    const { id } = parse(Params, request.params);
    const { count } = parse(z.looseObject({ count: z.number().int().min(1).default(1) }), request.body);
    await liveRow(rt, id, p);
    rt.storage.checkSubmit();
    const out = await rt.snapshots.fork(id, p, count, tenant(p));
    return [
      ...out.sandboxes.map((row) => ({ sandbox: createdView(row, tokens.of(row.id), domain) })),
      ...out.errors.map((e) => ({ error: { code: e.status, message: e.message } })),
    ];
  });

  app.post('/sandboxes/:id/snapshots', async (request, reply) => {
    const p = await who(request, 'sandboxes:write');
    const { id } = parse(Params, request.params);
    await liveRow(rt, id, p);
    rt.storage.checkSubmit();
    const snap = await rt.snapshots.take(id, p);
    return reply.code(201).send({ snapshotID: snap.id, names: [snap.id] });
  });
}
