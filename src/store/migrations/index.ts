import type { Migration, MigrationProvider } from 'kysely';
import * as m0001 from './0001_init.js';
import * as m0002 from './0002_output.js';
import * as m0003 from './0003_tenants.js';
import * as m0004 from './0004_sandboxes.js';
import * as m0005 from './0005_token_sandboxes.js';
import * as m0006 from './0006_github_deliveries.js';
import * as m0007 from './0007_callbacks.js';
import * as m0008 from './0008_snapshots.js';
import * as m0009 from './0009_hosts.js';
import * as m0010 from './0010_leases.js';
import * as m0011 from './0011_event_notify.js';
import * as m0012 from './0012_job_needs.js';
import * as m0013 from './0013_queue_order.js';

/** Numbered, append-only. Never edit a released migration; add the next number. */
const MIGRATIONS: Record<string, Migration> = {
  '0001_init': m0001,
  '0002_output': m0002,
  '0003_tenants': m0003,
  '0004_sandboxes': m0004,
  '0005_token_sandboxes': m0005,
  '0006_github_deliveries': m0006,
  '0007_callbacks': m0007,
  '0008_snapshots': m0008,
  '0009_hosts': m0009,
  '0010_leases': m0010,
  '0011_event_notify': m0011,
  '0012_job_needs': m0012,
  '0013_queue_order': m0013,
};

export const migrationProvider: MigrationProvider = {
  getMigrations: async () => MIGRATIONS,
};
