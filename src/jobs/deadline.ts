/** A timer that fired this much later than asked means the event loop (or the whole runner) was stalled. */
const STALL_MS = 50;
/** After a stall, how long the job's own end gets to be noticed before the deadline counts. */
const GRACE_MS = 250;

/**
 * Calls `onExpire` once `ms` have passed — unless the runner itself was
 * stalled (paused with SIGSTOP, swapped out, a blocked loop) past the deadline.
 * Then the job may well have ended in time and its exit is only waiting to be
 * read: timers run before I/O when the loop wakes, so firing at once would
 * record a job that ended within its time as timed out. It gets a short grace
 * to be seen ending first.
 */
export function deadlineTimer(ms: number, onExpire: () => void): { clear(): void } {
  const due = performance.now() + ms;
  let timer: NodeJS.Timeout = setTimeout(() => {
    const late = performance.now() - due;
    if (late < STALL_MS) return onExpire();
    timer = setTimeout(onExpire, GRACE_MS);
  }, ms);
  return { clear: () => clearTimeout(timer) };
}
