import type { Store } from '../store/store.js';
import type { EventBus } from './event-bus.js';
import { isTerminal } from './states.js';

/** Resolves true once job `id` is in a terminal state; false after `timeoutMs` or when `stop` aborts. */
export function waitForEnd(
  deps: { bus: EventBus; store: Store },
  stop: AbortSignal,
  id: string,
  timeoutMs: number,
): Promise<boolean> {
  if (stop.aborted) return Promise.resolve(false);
  return new Promise<boolean>((resolve) => {
    const finish = (ended: boolean) => {
      unsubscribe();
      clearTimeout(timer);
      stop.removeEventListener('abort', onStop);
      resolve(ended);
    };
    const onStop = () => finish(false);
    const unsubscribe = deps.bus.subscribe(id, (e) => {
      if (e.type === 'state' && isTerminal((e.data as { state: string }).state)) finish(true);
    });
    const timer = setTimeout(() => finish(false), timeoutMs);
    stop.addEventListener('abort', onStop, { once: true });
    // Subscribed first, then read: an end that happened in between is not missed.
    deps.store.getJob(id).then(
      (row) => (!row || isTerminal(row.state)) && finish(true),
      () => finish(false),
    );
  });
}
