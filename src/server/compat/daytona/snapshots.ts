import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { ownerFilter } from '../../../auth/ownership.js';
import type { Principal } from '../../../auth/tokens.js';
import { PaddockError } from '../../../errors.js';
import type { Runtime } from '../../../runtime.js';
import type { SnapshotRow } from '../../../store/ops/snapshots.js';
import type { SandboxRow } from '../../../store/store.js';
import { DaytonaName, invalid } from './create.js';
import { checkNameFree, findSandbox } from './lookup.js';
import { NAME_LABEL, OWN_LABEL, sandboxDto, toolboxUrl } from './sandbox-view.js';

/** A Paddock snapshot made by `sandbox.createSnapshot(name)` carries its Daytona name here. */
export const SNAPSHOT_NAME_LABEL = `${OWN_LABEL}snapshot-name`;

const IdParams = z.object({ id: z.string().min(1).max(100) });
const tags = ['compat'];

/** This principal's snapshot of that Daytona name, if any (a token keeps at most sandboxes.max_snapshots). */
export async function snapshotNamed(rt: Runtime, p: Principal | undefined, name: string): Promise<SnapshotRow | undefined> {
  const page = await rt.store.listSnapshots({ tokenId: ownerFilter(p), limit: 500 });
  return page.rows.find((s) => s.labels[SNAPSHOT_NAME_LABEL] === name && s.host_id === rt.config.host_id);
}

/**
 * `sandbox.fork()` and `sandbox.createSnapshot(name)` on Paddock's filesystem snapshots
 * (src/sandboxes/snapshots.ts): a fork is a new sandbox with the source's files (not its memory),
 * a snapshot is named so that `daytona.create({snapshot: name})` starts from it.
 */
export function daytonaSnapshotRoutes(app: FastifyInstance, rt: Runtime): void {
  const r = app.withTypeProvider<ZodTypeProvider>();
  const dto = (request: FastifyRequest, row: SandboxRow) => sandboxDto(row, rt.config, toolboxUrl(rt.config, request));

  r.post(
    '/sandbox/:id/fork',
    { config: { scope: 'sandboxes:write' }, schema: { summary: 'Fork: a new sandbox with this one’s files (Daytona compatible)', tags, params: IdParams } },
    async (request) => {
      const body = z.looseObject({ name: DaytonaName.optional() }).safeParse(request.body ?? {});
      if (!body.success) throw invalid('body', body.error);
      const source = await findSandbox(rt, request.principal, request.params.id);
      await checkNameFree(rt, request.principal, body.data.name);
      rt.storage.checkSubmit();
      // The source's labels but its name: a fork is named as asked, or by its id.
      const labels = Object.fromEntries(Object.entries(source.labels).filter(([k]) => k !== NAME_LABEL));
      if (body.data.name) labels[NAME_LABEL] = body.data.name;
      const tenant = { tokenId: request.principal?.tokenId ?? null, quotas: request.principal?.quotas };
      const out = await rt.snapshots.fork(source.id, request.principal, 1, tenant, { labels });
      const made = out.sandboxes[0];
      if (!made) throw out.errors[0] ?? new PaddockError('internal', 'the fork made no sandbox');
      return dto(request, made);
    },
  );

  r.post(
    '/sandbox/:id/snapshot',
    { config: { scope: 'sandboxes:write' }, schema: { summary: 'Snapshot this sandbox’s files under a name (Daytona compatible)', tags, params: IdParams } },
    async (request) => {
      const body = z.looseObject({ name: DaytonaName }).safeParse(request.body ?? {});
      if (!body.success) throw invalid('body', body.error);
      const source = await findSandbox(rt, request.principal, request.params.id);
      if (await snapshotNamed(rt, request.principal, body.data.name)) {
        throw new PaddockError('conflict', `snapshot with name ${body.data.name} already exists`);
      }
      rt.storage.checkSubmit();
      await rt.snapshots.take(source.id, request.principal, { [SNAPSHOT_NAME_LABEL]: body.data.name });
      return dto(request, await rt.sandboxes.get(source.id, request.principal));
    },
  );
}
