import { createHash } from 'node:crypto';
import type { SandboxSpec } from '../driver.js';

/** What a warm container is started for. */
export type PoolKey = { image: string; limits: SandboxSpec['limits']; network: SandboxSpec['network'] };

/** What the container is made of: timeout_ms and output_bytes are enforced by the runner, not by it. */
export function poolKey(k: PoolKey): string {
  const { timeout_ms: _timeout, output_bytes: _output, ...container } = k.limits;
  return JSON.stringify({ image: k.image, limits: container, network: k.network });
}

/** A short, stable label value for one pool key (a key is too long and too free-form for a label). */
export const poolLabel = (key: string): string => createHash('sha256').update(key).digest('hex').slice(0, 12);
