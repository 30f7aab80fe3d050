import type Dockerode from 'dockerode';
import { EGRESS_NETWORK } from './container-spec.js';
import { LABELS } from './labels.js';

let creating: Promise<void> | undefined;

/**
 * The bridge network `network: "egress"` jobs join; created once, on first use.
 * Concurrent callers (a job and the pool refill for its key) share one creation:
 * Docker accepts several networks of one name, and would make one per caller.
 */
export function ensureEgressNetwork(docker: Dockerode, runner: string): Promise<void> {
  creating ??= createEgressNetwork(docker, runner).finally(() => (creating = undefined));
  return creating;
}

async function createEgressNetwork(docker: Dockerode, runner: string): Promise<void> {
  const existing = await docker.listNetworks({ filters: { name: [EGRESS_NETWORK] } });
  if (existing.some((n) => n.Name === EGRESS_NETWORK)) return;
  await docker
    .createNetwork({ Name: EGRESS_NETWORK, Driver: 'bridge', Labels: { [LABELS.runner]: runner } })
    .catch((err: { statusCode?: number }) => {
      if (err.statusCode !== 409) throw err; // created meanwhile by another runner
    });
}
