import type { Store } from '../store/store.js';

type LiveRecords = Pick<Store, 'listLiveSandboxes' | 'updateSandbox'>;
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
  const count = await recordGone(store, hostId, 'runner_restarted', 'the runner restarted; a sandbox does not survive the process that held it');
  if (count > 0) log.warn({ count }, 'sandboxes of a previous process recorded as runner_restarted');
  return count;
}

/**
 * A fleet host went silent (lost) or stopped without ending its sandboxes: they are gone with it.
 * Any host may record it; doing it twice changes nothing.
 */
export async function recordHostLost(store: LiveRecords, hostId: string, log: Logger): Promise<number> {
  const count = await recordGone(store, hostId, 'host_lost', `host ${hostId} stopped heartbeating; its sandboxes went with it`);
  if (count > 0) log.warn({ count, host: hostId }, 'sandboxes of a lost host recorded as host_lost');
  return count;
}

async function recordGone(store: LiveRecords, hostId: string, reason: 'runner_restarted' | 'host_lost', detail: string): Promise<number> {
  const stale = await store.listLiveSandboxes(hostId);
  const ended_at = nowIso();
  for (const row of stale) await store.updateSandbox(row.id, { state: 'destroyed', reason, detail, ended_at });
  return stale.length;
}
