import type { Kysely } from 'kysely';
import { z } from 'zod';
import { PaddockError } from '../../errors.js';
import { nowIso } from '../../util/ids.js';
import type { Database, HostsTable } from '../schema.js';

export const HOST_STATES = ['up', 'draining', 'stopped'] as const;
export type HostState = (typeof HOST_STATES)[number];

const HostDriver = z.object({ name: z.string(), available: z.boolean(), isolation: z.string() });
export type HostDriver = z.infer<typeof HostDriver>;

/** A host row with its JSON columns parsed (and checked: a row that does not fit fails as `internal`). */
export interface HostRow {
  id: string;
  address: string | null;
  version: string;
  state: HostState;
  drivers: HostDriver[];
  labels: Record<string, string>;
  images: string[];
  /** The job needs it meets (src/fleet/needs.ts). */
  caps: string[];
  capacity: number;
  running: number;
  reachable: boolean;
  started_at: string;
  heartbeat_at: string;
}

const Stored = z.object({
  state: z.enum(HOST_STATES),
  drivers: z.array(HostDriver),
  labels: z.record(z.string(), z.string()),
  images: z.array(z.string()),
  caps: z.array(z.string()),
});

function parseRow(r: HostsTable): HostRow {
  try {
    const parsed = Stored.parse({
      state: r.state,
      drivers: JSON.parse(r.drivers),
      labels: JSON.parse(r.labels),
      images: JSON.parse(r.images),
      caps: JSON.parse(r.caps),
    });
    return { ...r, ...parsed, capacity: Number(r.capacity), running: Number(r.running), reachable: Number(r.reachable) === 1 };
  } catch (err) {
    throw new PaddockError('internal', `host ${r.id}: stored row does not fit (${(err as Error).message})`);
  }
}

export type NewHost = Omit<HostRow, 'started_at' | 'heartbeat_at'>;

const columns = (h: Omit<NewHost, 'id'>) => ({
  address: h.address,
  version: h.version,
  state: h.state,
  drivers: JSON.stringify(h.drivers),
  labels: JSON.stringify(h.labels),
  images: JSON.stringify(h.images),
  caps: JSON.stringify(h.caps),
  capacity: h.capacity,
  running: h.running,
  reachable: h.reachable ? 1 : 0,
});

/** Registers a starting host, or brings a known one back (same id): a restart is a new start. */
export async function registerHost(db: Kysely<Database>, host: NewHost): Promise<HostRow> {
  const now = nowIso();
  const values = { ...columns(host), started_at: now, heartbeat_at: now };
  const row = await db
    .insertInto('hosts')
    .values({ id: host.id, ...values })
    .onConflict((oc) => oc.column('id').doUpdateSet(values))
    .returningAll()
    .executeTakeFirstOrThrow();
  return parseRow(row);
}

export type HostBeat = Partial<Pick<HostRow, 'state' | 'running' | 'images' | 'caps' | 'reachable' | 'drivers'>>;

/** A heartbeat: the time, plus what changed. False when the row is gone (pruned): register again. */
export async function heartbeatHost(db: Kysely<Database>, id: string, beat: HostBeat = {}): Promise<boolean> {
  const r = await db
    .updateTable('hosts')
    .set({
      heartbeat_at: nowIso(),
      ...(beat.state !== undefined ? { state: beat.state } : {}),
      ...(beat.running !== undefined ? { running: beat.running } : {}),
      ...(beat.images !== undefined ? { images: JSON.stringify(beat.images) } : {}),
      ...(beat.caps !== undefined ? { caps: JSON.stringify(beat.caps) } : {}),
      ...(beat.drivers !== undefined ? { drivers: JSON.stringify(beat.drivers) } : {}),
      ...(beat.reachable !== undefined ? { reachable: beat.reachable ? 1 : 0 } : {}),
    })
    .where('id', '=', id)
    .executeTakeFirst();
  return Number(r.numUpdatedRows) > 0;
}

export async function listHosts(db: Kysely<Database>): Promise<HostRow[]> {
  return (await db.selectFrom('hosts').selectAll().orderBy('id').execute()).map(parseRow);
}

export async function getHost(db: Kysely<Database>, id: string): Promise<HostRow | undefined> {
  const row = await db.selectFrom('hosts').selectAll().where('id', '=', id).executeTakeFirst();
  return row && parseRow(row);
}
