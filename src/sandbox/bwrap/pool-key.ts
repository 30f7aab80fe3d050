import type { SandboxSpec } from '../driver.js';

/** What a warm sandbox is started for: its root (an image's rootfs, or the host's dirs) and limits. */
export type PoolKey = { rootfs: string | undefined; limits: SandboxSpec['limits'] };

/**
 * What the sandbox is made of: timeout_ms and output_bytes are enforced by the runner, cpu_ms
 * by each exec's rlimit and watchdog, so sandboxes that differ only in them are alike.
 */
export function poolKey(k: PoolKey): string {
  const { timeout_ms: _timeout, output_bytes: _output, cpu_ms: _cpu, ...made } = k.limits;
  return JSON.stringify({ rootfs: k.rootfs ?? null, limits: made });
}
