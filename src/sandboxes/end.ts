import { PaddockError } from '../errors.js';
import type { Store } from '../store/store.js';
import { nowIso } from '../util/ids.js';
import type { Logger } from '../util/log.js';
import type { SandboxEvents } from './events.js';
import type { LiveSandbox } from './live.js';
import type { SandboxReason } from './spec.js';

export interface Ending {
  store: Store;
  log: Logger;
  events: SandboxEvents;
  /** The service's live sandboxes; an ended one leaves it. */
  live: Map<string, LiveSandbox>;
}

/**
 * Ends a live sandbox once, whoever asks first: running execs are cancelled,
 * the driver destroys the sandbox, the end is recorded, `destroyed` published.
 */
export function endSandbox(c: Ending, live: LiveSandbox, reason: SandboxReason, detail?: string): Promise<void> {
  live.ending ??= (async () => {
    // A running exec's answer is the sandbox's end, not the kill that follows from it.
    const because = new PaddockError('conflict', `sandbox ${live.id} was destroyed while the exec ran (${reason})`, {
      state: 'destroyed',
      reason,
    });
    for (const run of live.execs.values()) if (!run.ended) run.cancel(because);
    await live.sandbox.destroy().catch((err: unknown) => c.log.warn({ err, sandboxId: live.id }, 'destroying a sandbox failed'));
    live.agent.close();
    const ended_at = nowIso();
    live.row = { ...live.row, state: 'destroyed', reason, detail: detail?.slice(0, 4096) ?? null, ended_at };
    await live.saving;
    await c.store
      .updateSandbox(live.id, { state: 'destroyed', reason, detail: live.row.detail, ended_at })
      .catch((err: unknown) => c.log.error({ err, sandboxId: live.id }, 'recording a sandbox end failed'));
    c.live.delete(live.id);
    c.events.publish(live.id, 'destroyed', { reason, ...(detail ? { detail } : {}) });
    c.log.info({ sandboxId: live.id, reason }, 'sandbox destroyed');
  })();
  return live.ending;
}
