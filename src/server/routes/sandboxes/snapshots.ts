import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { ownerFilter } from '../../../auth/ownership.js';
import type { Runtime } from '../../../runtime.js';
import { SandboxLabels, SNAPSHOT_ID_RE } from '../../../sandboxes/spec.js';
import type { SnapshotRow } from '../../../store/ops/snapshots.js';
import { ProblemView } from '../schemas.js';
import { errors, SandboxParams, SandboxView, sandboxView } from './view.js';

export const SnapshotView = z.object({
  id: z.string(),
  /**
   * `filesystem`: the sandbox's files (/work, /tmp), not its memory or processes; `memory` (the
   * qemu driver): everything, memory and running processes included.
   */
  kind: z.enum(['filesystem', 'memory']),
  sandbox_id: z.string(),
  driver: z.string(),
  image: z.string().nullable(),
  labels: z.record(z.string(), z.string()),
  size_bytes: z.number().int(),
  created_at: z.string(),
});

export const snapshotView = (row: SnapshotRow): z.infer<typeof SnapshotView> => ({
  id: row.id,
  kind: row.kind,
  sandbox_id: row.sandbox_id,
  driver: row.driver,
  image: row.image,
  labels: row.labels,
  size_bytes: row.size_bytes,
  created_at: row.created_at,
});

const SnapshotParams = z.object({ id: z.string().regex(SNAPSHOT_ID_RE, 'must be a snapshot id (snap_…)') });
const bad = { 409: ProblemView, 413: ProblemView, 429: ProblemView, ...errors };

/** Snapshots of sandboxes (of files, or of memory on qemu), and forks (src/sandboxes/snapshots.ts). */
export function sandboxSnapshotRoutes(app: FastifyInstance, rt: Runtime): void {
  const r = app.withTypeProvider<ZodTypeProvider>();

  // `/snapshot` as well: the name issue 13 and the SDKs' own APIs use.
  for (const url of ['/v1/sandboxes/:id/snapshots', '/v1/sandboxes/:id/snapshot']) r.post(
    url,
    {
      config: { scope: 'sandboxes:write' },
      schema: {
        summary: 'Snapshot a sandbox',
        description:
          'On the qemu driver, the whole VM — memory, running processes, files (`kind: memory`); the sandbox runs on, ' +
          'and execs in flight go on in it (a sandbox restored from the snapshot has their processes but not their ' +
          'streams). Elsewhere, the running sandbox’s writable dirs (/work, /tmp), archived with its own `tar` ' +
          '(`kind: filesystem`). `POST /v1/sandboxes` with `snapshot` starts new sandboxes from it. Over ' +
          '`sandboxes.snapshot_max_mb`: `413 snapshot_too_large`; over `sandboxes.max_snapshots`: `429 quota_exceeded`; ' +
          'an image without `tar`: `422 snapshot_failed`.',
        tags: ['sandboxes'],
        params: SandboxParams,
        body: z.strictObject({ labels: SandboxLabels.default({}) }).nullish(),
        response: { 201: SnapshotView, ...bad },
      },
    },
    async (request, reply) => {
      rt.storage.checkSubmit();
      const row = await rt.snapshots.take(request.params.id, request.principal, request.body?.labels ?? {});
      reply.header('location', `/v1/snapshots/${row.id}`);
      return reply.code(201).send(snapshotView(row));
    },
  );

  r.post(
    '/v1/sandboxes/:id/fork',
    {
      config: { scope: 'sandboxes:write' },
      schema: {
        summary: 'Fork a running sandbox',
        description:
          'New sandboxes with the source’s driver, image, limits, env, labels and state as it is now: on the qemu driver ' +
          'all of it, memory and processes included (`kind: memory`; the source runs on), elsewhere its files ' +
          '(`kind: filesystem`). Each one that could not be made is in `errors`.',
        tags: ['sandboxes'],
        params: SandboxParams,
        body: z.strictObject({ count: z.number().int().min(1).default(1) }).nullish(),
        response: {
          201: z.object({ kind: z.enum(['filesystem', 'memory']), sandboxes: z.array(SandboxView), errors: z.array(z.object({ code: z.string(), message: z.string() })) }),
          ...bad,
        },
      },
    },
    async (request, reply) => {
      rt.storage.checkSubmit();
      const tenant = { tokenId: request.principal?.tokenId ?? null, quotas: request.principal?.quotas };
      const out = await rt.snapshots.fork(request.params.id, request.principal, request.body?.count ?? 1, tenant);
      return reply.code(201).send({
        kind: out.kind,
        sandboxes: out.sandboxes.map(sandboxView),
        errors: out.errors.map((e) => ({ code: e.code, message: e.message })),
      });
    },
  );

  r.get(
    '/v1/snapshots',
    {
      config: { scope: 'sandboxes:read' },
      schema: {
        summary: 'List snapshots, newest first',
        tags: ['sandboxes'],
        querystring: z.strictObject({
          limit: z.coerce.number().int().min(1).max(500).default(50),
          cursor: z.string().regex(SNAPSHOT_ID_RE).optional(),
        }),
        response: { 200: z.object({ items: z.array(SnapshotView), next_cursor: z.string().nullable() }), ...errors },
      },
    },
    async (request) => {
      const page = await rt.store.listSnapshots({ tokenId: ownerFilter(request.principal), before: request.query.cursor, limit: request.query.limit });
      return { items: page.rows.map(snapshotView), next_cursor: page.next };
    },
  );

  r.get(
    '/v1/snapshots/:id',
    {
      config: { scope: 'sandboxes:read' },
      schema: { summary: 'Get a snapshot', tags: ['sandboxes'], params: SnapshotParams, response: { 200: SnapshotView, ...errors } },
    },
    async (request) => snapshotView(await rt.snapshots.get(request.params.id, request.principal)),
  );

  r.delete(
    '/v1/snapshots/:id',
    {
      config: { scope: 'sandboxes:write' },
      schema: {
        summary: 'Delete a snapshot',
        tags: ['sandboxes'],
        params: SnapshotParams,
        response: { 204: z.null().describe('deleted'), ...errors },
      },
    },
    async (request, reply) => {
      await rt.snapshots.delete(request.params.id, request.principal);
      return reply.code(204).send(null);
    },
  );
}
