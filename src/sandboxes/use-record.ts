import type { Store } from '../store/store.js';
import type { Logger } from '../util/log.js';
import type { LiveSandbox } from './live.js';

/**
 * Writes a sandbox's last use (and so its new expiry) to the store, lazily: at most one
 * write in flight per sandbox, and uses meanwhile fold into one more write after it. Every
 * exec and file operation touches a sandbox; one write each would queue behind a burst.
 */
export function recordUse(store: Store, log: Logger, live: LiveSandbox): void {
  if (live.saving) {
    live.dirty = true;
    return;
  }
  const { last_used_at, expires_at, spec } = live.row;
  live.saving = store
    .updateSandbox(live.id, { last_used_at, expires_at, spec })
    .then(
      () => undefined,
      (err: unknown) => log.warn({ err, sandboxId: live.id }, 'recording sandbox use failed'),
    )
    .finally(() => {
      live.saving = undefined;
      if (live.dirty && !live.ending) {
        live.dirty = false;
        recordUse(store, log, live);
      }
    });
}
