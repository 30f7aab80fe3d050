import { ownerFilter } from '../../../auth/ownership.js';
import type { FastifyRequest } from 'fastify';
import type { Principal } from '../../../auth/tokens.js';
import { PaddockError } from '../../../errors.js';
import type { Runtime } from '../../../runtime.js';
import type { SandboxRow } from '../../../store/store.js';
import { DaytonaName } from './create.js';
import { NAME_LABEL } from './sandbox-view.js';

/** Paddock's sandbox ids (src/util/ids.ts newId('sbx')); anything else in `:idOrName` is a name. */
const ID_RE = /^sbx_[A-Za-z0-9]+$/;

/** This principal's sandboxes named `name`, newest first (a destroyed one keeps its name until it is deleted). */
async function named(rt: Runtime, p: Principal | undefined, name: string): Promise<SandboxRow[]> {
  const page = await rt.sandboxes.list({ tokenId: ownerFilter(p), labels: { [NAME_LABEL]: name }, limit: 10 });
  return page.rows;
}

/** Daytona's `:sandboxIdOrName`: an id, else the newest sandbox of that name; `404` when neither. */
export async function findSandbox(rt: Runtime, p: Principal | undefined, idOrName: string): Promise<SandboxRow> {
  if (ID_RE.test(idOrName)) return rt.sandboxes.get(idOrName, p);
  if (!DaytonaName.safeParse(idOrName).success) throw new PaddockError('not_found', `no sandbox ${idOrName}`);
  const row = (await named(rt, p, idOrName))[0];
  if (!row) throw new PaddockError('not_found', `no sandbox with id or name ${idOrName}`);
  return row;
}

/**
 * Names are unique among a principal's sandboxes that are not destroyed, as in Daytona (409).
 * Checked before the create, so two concurrent creates of one name may both pass: the later
 * lookups then see the newest.
 */
export async function checkNameFree(rt: Runtime, p: Principal | undefined, name: string | undefined): Promise<void> {
  if (!name) return;
  const taken = (await named(rt, p, name)).find((r) => r.state !== 'destroyed');
  if (taken) throw new PaddockError('conflict', `sandbox with name ${name} already exists (${taken.id})`);
}

/**
 * For the fleet's forwarding (src/server/host-proxy.ts): the id of the sandbox a Daytona control
 * request names by its name (`<prefix>/api/sandbox/<name>/…`), so it goes to the host holding it as
 * one named by id does; undefined for anything else, or a name this principal has no sandbox of.
 */
export function daytonaNameLookup(rt: Runtime): ((request: FastifyRequest) => Promise<string | undefined>) | undefined {
  const prefix = rt.config.daytona.prefix;
  if (!prefix) return undefined;
  const control = `${prefix}/api/sandbox/:id`;
  return async (request) => {
    const route = request.routeOptions.url ?? '';
    const name = (request.params as Record<string, unknown> | undefined)?.id;
    if (!route.startsWith(control) || typeof name !== 'string' || ID_RE.test(name) || !DaytonaName.safeParse(name).success) return undefined;
    return (await named(rt, request.principal, name))[0]?.id;
  };
}
