/**
 * Runs `task` when triggered, never twice at once: triggers that come while it
 * runs make it run exactly once more afterwards, so nothing they asked for is
 * missed and a burst costs one extra run, not one per trigger.
 */
export function coalesced(task: () => Promise<void>, onError: (err: unknown) => void): () => void {
  let running = false;
  let again = false;
  const trigger = (): void => {
    if (running) {
      again = true;
      return;
    }
    running = true;
    void task()
      .catch(onError)
      .finally(() => {
        running = false;
        if (again) {
          again = false;
          trigger();
        }
      });
  };
  return trigger;
}
