/** `p`, or `fallback` once `ms` have passed (to race a promise that may never settle; the timer does not hold the process). */
export function within<T, F>(p: Promise<T>, ms: number, fallback: F): Promise<T | F> {
  return Promise.race([p, new Promise<F>((r) => setTimeout(() => r(fallback), ms).unref())]);
}
