import type Dockerode from 'dockerode';
import { EGRESS_NETWORK } from './container-spec.js';
import { LABELS } from './labels.js';

/** The bridge network `network: "egress"` jobs join; created once, on first use. */
export async function ensureEgressNetwork(docker: Dockerode, runner: string): Promise<void> {
  const existing = await docker.listNetworks({ filters: { name: [EGRESS_NETWORK] } });
  if (existing.some((n) => n.Name === EGRESS_NETWORK)) return;
  await docker
    .createNetwork({ Name: EGRESS_NETWORK, Driver: 'bridge', Labels: { [LABELS.runner]: runner } })
    .catch((err: { statusCode?: number }) => {
      if (err.statusCode !== 409) throw err; // created meanwhile by another runner
    });
}
