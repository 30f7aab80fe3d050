import type { Store } from '../store/store.js';
import { nowIso } from '../util/ids.js';
import type { Logger } from '../util/log.js';

/**
 * At start-up: sandboxes the store says are live on this host were held by a
 * process that is gone. Their containers and processes were removed by the
 * drivers' reapOrphans, and an agent connection does not outlive the process
 * that held it, so they are recorded destroyed (`runner_restarted`) rather than
 * reattached. Their rows stay, so their owners can see what happened.
 */
export async function recordRestarted(store: Store, hostId: string, log: Logger): Promise<number> {
  const stale = await store.listLiveSandboxes(hostId);
  const ended_at = nowIso();
  for (const row of stale) {
    await store.updateSandbox(row.id, {
      state: 'destroyed',
      reason: 'runner_restarted',
      detail: 'the runner restarted; a sandbox does not survive the process that held it',
      ended_at,
    });
  }
  if (stale.length > 0) log.warn({ count: stale.length }, 'sandboxes of a previous process recorded as runner_restarted');
  return stale.length;
}
