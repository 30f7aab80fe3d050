import type { Config } from '../config/schema.js';
import type { FleetPlacement } from '../jobs/submit-plan.js';
import { isPostgresUrl } from '../store/dialect.js';
import type { Store } from '../store/store.js';
import { unmet } from './needs.js';
import { hostHealth } from './registry.js';

/**
 * On PostgreSQL, a job this host cannot run is accepted when another host that is up meets all its
 * needs (as its last heartbeat published them). On SQLite there is one host: undefined.
 */
export function fleetPlacement(store: Pick<Store, 'listHosts'>, config: Config): FleetPlacement | undefined {
  if (!isPostgresUrl(config.store_url)) return undefined;
  return {
    async elsewhere(needs) {
      const now = Date.now();
      return (await store.listHosts()).some(
        (h) => h.id !== config.host_id && hostHealth(h, now, config.fleet.host_timeout_ms) === 'up' && unmet(needs, h.caps).length === 0,
      );
    },
  };
}
