import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { ownerFilter } from '../../../auth/ownership.js';
import { PaddockError } from '../../../errors.js';
import type { Runtime } from '../../../runtime.js';
import type { SandboxRow } from '../../../store/store.js';
import { DaytonaCreate, idleTimeoutMs, invalid, nativeCreate } from './create.js';
import { checkNameFree, findSandbox } from './lookup.js';
import { NAME_LABEL, sandboxDto, toolboxUrl } from './sandbox-view.js';
import { snapshotNamed } from './snapshots.js';

const IdParams = z.object({ id: z.string().min(1).max(100) });
const tags = ['compat'];

/** Daytona's list states as Paddock's (the others never occur here). */
const STATES: Record<string, 'running' | 'paused' | 'destroyed'> = { started: 'running', stopped: 'paused', destroyed: 'destroyed' };

const ListQuery = z.looseObject({
  cursor: z.string().min(1).max(100).optional(),
  limit: z.coerce.number().int().min(1).max(200).default(100),
  id: z.string().max(100).optional(),
  name: z.string().max(63).optional(),
  /** A JSON object, as the SDK sends `{labels: {...}}` (JSON.stringify). */
  labels: z.string().max(16 * 1024).optional(),
  states: z.union([z.string(), z.array(z.string()).max(32)]).optional(),
});

function labelsOf(raw: string | undefined): Record<string, string> | undefined {
  if (raw === undefined) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    throw new PaddockError('validation_failed', 'querystring.labels: must be a JSON object of strings');
  }
  const parsed = z.record(z.string().max(100), z.string().max(1000)).safeParse(value);
  if (!parsed.success) throw invalid('querystring.labels', parsed.error);
  return parsed.data;
}

/** `<prefix>/api/sandbox…`: create, list, get, delete, start (resume), stop (pause), autostop (idle TTL). */
export function daytonaControlRoutes(app: FastifyInstance, rt: Runtime): void {
  const r = app.withTypeProvider<ZodTypeProvider>();
  const dto = (request: FastifyRequest, row: SandboxRow) => sandboxDto(row, rt.config, toolboxUrl(rt.config, request));

  r.post(
    '/sandbox',
    { config: { scope: 'sandboxes:write' }, schema: { summary: 'Create a sandbox (Daytona compatible)', tags } },
    async (request, reply) => {
      const body = DaytonaCreate.safeParse(request.body ?? {});
      if (!body.success) throw invalid('body', body.error);
      const spec = nativeCreate(body.data, rt.config);
      rt.storage.checkSubmit();
      await checkNameFree(rt, request.principal, body.data.name);
      const tenant = { tokenId: request.principal?.tokenId ?? null, quotas: request.principal?.quotas };
      // A snapshot this token took with createSnapshot(name) comes before an image of that name.
      const snap = body.data.snapshot && !body.data.buildInfo ? await snapshotNamed(rt, request.principal, body.data.snapshot) : undefined;
      const row = snap
        ? await rt.snapshots.createFrom(snap.id, { ...spec, image: undefined }, tenant, request.principal)
        : await rt.sandboxes.create(spec, tenant);
      return reply.code(200).send(dto(request, row));
    },
  );

  r.get(
    '/sandbox',
    { config: { scope: 'sandboxes:read' }, schema: { summary: 'List sandboxes (Daytona compatible)', tags, querystring: ListQuery } },
    async (request) => {
      const q = request.query;
      const states = q.states === undefined ? undefined : new Set((Array.isArray(q.states) ? q.states : [q.states]).map((s) => STATES[s]));
      const labels = { ...labelsOf(q.labels), ...(q.name ? { [NAME_LABEL]: q.name } : {}) };
      const page = await rt.sandboxes.list({ tokenId: ownerFilter(request.principal), labels, before: q.cursor, limit: q.limit });
      const rows = page.rows.filter((row) => (!q.id || row.id === q.id) && (!states || states.has(row.state)));
      return { items: rows.map((row) => dto(request, row)), nextCursor: page.next };
    },
  );

  r.get(
    '/sandbox/:id',
    { config: { scope: 'sandboxes:read' }, schema: { summary: 'A sandbox by id or name (Daytona compatible)', tags, params: IdParams } },
    async (request) => dto(request, await findSandbox(rt, request.principal, request.params.id)),
  );

  r.get(
    '/sandbox/:id/toolbox-proxy-url',
    { config: { scope: 'sandboxes:read' }, schema: { summary: 'Where the sandbox’s toolbox is (Daytona compatible)', tags, params: IdParams } },
    async (request) => {
      await findSandbox(rt, request.principal, request.params.id);
      return { url: toolboxUrl(rt.config, request) };
    },
  );

  r.delete(
    '/sandbox/:id',
    { config: { scope: 'sandboxes:write' }, schema: { summary: 'Delete a sandbox (Daytona compatible)', tags, params: IdParams } },
    async (request) => {
      const row = await findSandbox(rt, request.principal, request.params.id);
      await rt.sandboxes.delete(row.id, request.principal);
      return dto(request, { ...row, state: 'destroyed', reason: 'deleted' });
    },
  );

  r.post(
    '/sandbox/:id/stop',
    { config: { scope: 'sandboxes:write' }, schema: { summary: 'Stop: Paddock pauses the sandbox (Daytona compatible)', tags, params: IdParams } },
    async (request) => {
      const row = await findSandbox(rt, request.principal, request.params.id);
      return dto(request, row.state === 'paused' ? row : await rt.sandboxes.pause(row.id, request.principal));
    },
  );

  r.post(
    '/sandbox/:id/start',
    { config: { scope: 'sandboxes:write' }, schema: { summary: 'Start: Paddock resumes a paused sandbox (Daytona compatible)', tags, params: IdParams } },
    async (request) => {
      const row = await findSandbox(rt, request.principal, request.params.id);
      if (row.state === 'destroyed') {
        throw new PaddockError('conflict', `sandbox ${row.id} is destroyed (${row.reason ?? 'ended'}); Paddock cannot start it again`);
      }
      return dto(request, row.state === 'running' ? row : await rt.sandboxes.resume(row.id, request.principal));
    },
  );

  r.post(
    '/sandbox/:id/autostop/:interval',
    {
      config: { scope: 'sandboxes:write' },
      schema: {
        summary: 'Minutes of inactivity before the sandbox ends: Paddock’s idle TTL (Daytona compatible)',
        tags,
        params: IdParams.extend({ interval: z.coerce.number().int().min(0).max(1_000_000) }),
      },
    },
    async (request) => {
      const row = await findSandbox(rt, request.principal, request.params.id);
      return dto(request, await rt.sandboxes.setTimeout(row.id, request.principal, idleTimeoutMs(rt.config, request.params.interval)));
    },
  );

  r.post(
    '/sandbox/:id/last-activity',
    { config: { scope: 'sandboxes:write' }, schema: { summary: 'Counts as use: the idle TTL starts again (Daytona compatible)', tags, params: IdParams } },
    async (request, reply) => {
      const row = await findSandbox(rt, request.principal, request.params.id);
      await rt.sandboxes.use(row.id, request.principal, async () => undefined);
      return reply.code(201).send(null);
    },
  );
}
