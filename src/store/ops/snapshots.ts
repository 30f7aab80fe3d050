import type { Kysely, Selectable } from 'kysely';
import { z } from 'zod';
import { PaddockError } from '../../errors.js';
import { SandboxLabels, StoredSandboxSpec } from '../../sandboxes/spec.js';
import type { Database, SandboxSnapshotsTable } from '../schema.js';

/** A stored snapshot row, checked on read like a sandbox's (src/store/ops/sandboxes.ts). */
const SnapshotRowSchema = z.strictObject({
  id: z.string().regex(/^snap_[0-9a-z]{26}$/),
  token_id: z.string().nullable(),
  sandbox_id: z.string().min(1),
  kind: z.enum(['filesystem', 'memory']),
  driver: z.string().min(1),
  image: z.string().nullable(),
  spec: z.string().transform((s, ctx) => json(s, ctx)).pipe(StoredSandboxSpec),
  labels: z.string().transform((s, ctx) => json(s, ctx)).pipe(SandboxLabels),
  size_bytes: z.coerce.number().int().min(0),
  host_id: z.string().min(1),
  created_at: z.string().datetime(),
});
export type SnapshotRow = z.output<typeof SnapshotRowSchema>;

function json(text: string, ctx: z.RefinementCtx): unknown {
  try {
    return JSON.parse(text);
  } catch {
    ctx.addIssue({ code: 'custom', message: 'is not JSON' });
    return z.NEVER;
  }
}

function parseRow(row: Selectable<SandboxSnapshotsTable>): SnapshotRow {
  const parsed = SnapshotRowSchema.safeParse(row);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  throw new PaddockError('internal', `stored snapshot ${row.id} is not valid: ${issue?.path.join('.')} ${issue?.message}`);
}

export async function insertSnapshot(db: Kysely<Database>, row: SnapshotRow): Promise<SnapshotRow> {
  const values = { ...row, spec: JSON.stringify(row.spec), labels: JSON.stringify(row.labels) };
  return parseRow(await db.insertInto('sandbox_snapshots').values(values).returningAll().executeTakeFirstOrThrow());
}

export async function getSnapshot(db: Kysely<Database>, id: string): Promise<SnapshotRow | undefined> {
  const row = await db.selectFrom('sandbox_snapshots').selectAll().where('id', '=', id).executeTakeFirst();
  return row && parseRow(row);
}

/** Newest first, a page at a time; `tokenId` undefined lists everyone's (admin). */
export async function listSnapshots(
  db: Kysely<Database>,
  filter: { tokenId?: string | undefined; before?: string | undefined; limit: number },
): Promise<{ rows: SnapshotRow[]; next: string | null }> {
  let q = db.selectFrom('sandbox_snapshots').selectAll().orderBy('id', 'desc').limit(filter.limit + 1);
  if (filter.tokenId !== undefined) q = q.where('token_id', '=', filter.tokenId);
  if (filter.before) q = q.where('id', '<', filter.before);
  const rows = (await q.execute()).map(parseRow);
  const more = rows.length > filter.limit;
  const page = more ? rows.slice(0, filter.limit) : rows;
  return { rows: page, next: more ? page.at(-1)!.id : null };
}

/** A token's snapshots (null: the open, token-less ones), for its cap. */
export async function countSnapshots(db: Kysely<Database>, tokenId: string | null): Promise<number> {
  const q = db.selectFrom('sandbox_snapshots').select((eb) => eb.fn.countAll<number>().as('n'));
  const row = await (tokenId === null ? q.where('token_id', 'is', null) : q.where('token_id', '=', tokenId)).executeTakeFirst();
  return Number(row?.n ?? 0);
}

export async function deleteSnapshot(db: Kysely<Database>, id: string): Promise<boolean> {
  const res = await db.deleteFrom('sandbox_snapshots').where('id', '=', id).executeTakeFirst();
  return Number(res.numDeletedRows) > 0;
}
