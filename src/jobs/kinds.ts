import type { JobKind, JobKinds } from './kind.js';
import { commandKind } from './kinds/command.js';

/** The one registry of job kinds: `command` always, the rest as the runtime builds them with their services. */
export function jobKinds(more: JobKind<any>[] = []): JobKinds {
  return Object.fromEntries([commandKind, ...more].map((k) => [k.name, k]));
}
