import { type Kysely, type Selectable } from 'kysely';
import { z } from 'zod';
import { PaddockError } from '../../errors.js';
import { SANDBOX_REASONS, SANDBOX_STATES, SandboxLabels, StoredSandboxSpec } from '../../sandboxes/spec.js';
import type { Database, SandboxesTable } from '../schema.js';
import { jsonField } from './job-summary.js';

const Iso = z.string().datetime();

/**
 * A stored sandbox row, every column checked on read: a row that does not fit
 * (hand-edited, written by a newer version) fails loudly as `internal` naming the
 * column, instead of reaching a driver or a client half-understood.
 */
const SandboxRowSchema = z.strictObject({
  id: z.string().regex(/^sbx_[0-9a-z]{26}$/),
  token_id: z.string().nullable(),
  state: z.enum(SANDBOX_STATES),
  reason: z.enum(SANDBOX_REASONS).nullable(),
  detail: z.string().max(4096).nullable(),
  driver: z.string().min(1),
  image: z.string().nullable(),
  spec: z.string().transform((s, ctx) => json(s, ctx)).pipe(StoredSandboxSpec),
  labels: z.string().transform((s, ctx) => json(s, ctx)).pipe(SandboxLabels),
  host_id: z.string().min(1),
  created_at: Iso,
  last_used_at: Iso,
  expires_at: Iso,
  max_lifetime_at: Iso,
  ended_at: Iso.nullable(),
});
export type SandboxRow = z.output<typeof SandboxRowSchema>;

function json(text: string, ctx: z.RefinementCtx): unknown {
  try {
    return JSON.parse(text);
  } catch {
    ctx.addIssue({ code: 'custom', message: 'is not JSON' });
    return z.NEVER;
  }
}

function parseRow(row: Selectable<SandboxesTable>): SandboxRow {
  const parsed = SandboxRowSchema.safeParse(row);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  throw new PaddockError('internal', `stored sandbox ${row.id} is not valid: ${issue?.path.join('.')} ${issue?.message}`);
}

function toColumns(row: SandboxRow): Selectable<SandboxesTable> {
  return { ...row, spec: JSON.stringify(row.spec), labels: JSON.stringify(row.labels) };
}

export async function insertSandbox(db: Kysely<Database>, row: SandboxRow): Promise<SandboxRow> {
  return parseRow(await db.insertInto('sandboxes').values(toColumns(row)).returningAll().executeTakeFirstOrThrow());
}

export async function getSandbox(db: Kysely<Database>, id: string): Promise<SandboxRow | undefined> {
  const row = await db.selectFrom('sandboxes').selectAll().where('id', '=', id).executeTakeFirst();
  return row && parseRow(row);
}

export interface SandboxFilter {
  /** Only this token's sandboxes (a non-admin caller's own). */
  tokenId?: string | undefined;
  state?: string | undefined;
  /** Every one of these labels, with exactly this value. */
  labels?: Record<string, string> | undefined;
  /** Sandboxes older than this id (ids sort by creation time). */
  before?: string | undefined;
  limit: number;
}

/** Newest first; one extra row tells whether another page exists. */
export async function listSandboxes(
  db: Kysely<Database>,
  filter: SandboxFilter,
): Promise<{ rows: SandboxRow[]; next: string | null }> {
  let q = db.selectFrom('sandboxes').selectAll().orderBy('id', 'desc').limit(filter.limit + 1);
  if (filter.tokenId !== undefined) q = q.where('token_id', '=', filter.tokenId);
  if (filter.state) q = q.where('state', '=', filter.state);
  if (filter.before) q = q.where('id', '<', filter.before);
  for (const [key, value] of Object.entries(filter.labels ?? {})) {
    // Keys are label keys (LABEL_KEY_RE: no quotes).
    q = q.where(jsonField(db, 'labels', key), '=', value);
  }
  const rows = (await q.execute()).map(parseRow);
  const more = rows.length > filter.limit;
  const page = more ? rows.slice(0, filter.limit) : rows;
  return { rows: page, next: more ? page.at(-1)!.id : null };
}

/** Sandboxes this host holds (running or paused) according to the store. */
export async function listLiveSandboxes(db: Kysely<Database>, hostId: string): Promise<SandboxRow[]> {
  const rows = await db
    .selectFrom('sandboxes')
    .selectAll()
    .where('host_id', '=', hostId)
    .where('state', '!=', 'destroyed')
    .orderBy('id')
    .execute();
  return rows.map(parseRow);
}

export type SandboxPatch = Partial<Pick<SandboxRow, 'state' | 'reason' | 'detail' | 'last_used_at' | 'expires_at' | 'ended_at' | 'spec'>>;

/** Updates a sandbox that is not destroyed yet; undefined when it is (or is gone): the end is written once. */
export async function updateSandbox(db: Kysely<Database>, id: string, patch: SandboxPatch): Promise<SandboxRow | undefined> {
  const row = await db
    .updateTable('sandboxes')
    .set({ ...patch, spec: patch.spec && JSON.stringify(patch.spec) })
    .where('id', '=', id)
    .where('state', '!=', 'destroyed')
    .returningAll()
    .executeTakeFirst();
  return row && parseRow(row);
}

export async function deleteSandbox(db: Kysely<Database>, id: string): Promise<boolean> {
  const res = await db.deleteFrom('sandboxes').where('id', '=', id).executeTakeFirst();
  return Number(res.numDeletedRows) > 0;
}

/** Deletes up to `limit` destroyed sandboxes that ended before `endedBefore` (ISO); returns how many went. */
export async function pruneSandboxes(db: Kysely<Database>, endedBefore: string, limit: number): Promise<number> {
  const res = await db
    .deleteFrom('sandboxes')
    .where(
      'id',
      'in',
      db
        .selectFrom('sandboxes')
        .select('id')
        .where('state', '=', 'destroyed')
        .where('ended_at', '<', endedBefore)
        .orderBy('ended_at')
        .limit(limit),
    )
    .executeTakeFirst();
  return Number(res.numDeletedRows);
}
