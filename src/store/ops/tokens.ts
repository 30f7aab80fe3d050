import type { Kysely, Selectable } from 'kysely';
import { nowIso } from '../../util/ids.js';
import type { Database, TokensTable } from '../schema.js';

export type TokenRow = Selectable<TokensTable>;

/** A token's own quotas; an unset (null) one falls back to the runner's `quotas.*`. */
export interface StoredQuotas {
  max_queued: number | null;
  max_running: number | null;
  submits_per_s: number | null;
  max_streams: number | null;
  max_sandboxes: number | null;
}

export async function insertToken(
  db: Kysely<Database>,
  token: {
    id: string;
    name: string;
    hash: string;
    scopes: string[];
    quotas?: Partial<StoredQuotas> | undefined;
    callbackSecret?: string | undefined;
  },
): Promise<TokenRow> {
  const { quotas = {}, callbackSecret, ...rest } = token;
  return db
    .insertInto('tokens')
    .values({
      ...rest,
      scopes: JSON.stringify(token.scopes),
      created_at: nowIso(),
      last_used_at: null,
      revoked_at: null,
      max_queued: quotas.max_queued ?? null,
      max_running: quotas.max_running ?? null,
      submits_per_s: quotas.submits_per_s ?? null,
      max_streams: quotas.max_streams ?? null,
      max_sandboxes: quotas.max_sandboxes ?? null,
      callback_secret: callbackSecret ?? null,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
}

export async function getToken(db: Kysely<Database>, id: string): Promise<TokenRow | undefined> {
  return db.selectFrom('tokens').selectAll().where('id', '=', id).executeTakeFirst();
}

export async function listTokens(db: Kysely<Database>): Promise<TokenRow[]> {
  return db.selectFrom('tokens').selectAll().orderBy('created_at').execute();
}

/** Returns false when no live token has that id. */
export async function revokeToken(db: Kysely<Database>, id: string): Promise<boolean> {
  const res = await db
    .updateTable('tokens')
    .set({ revoked_at: nowIso() })
    .where('id', '=', id)
    .where('revoked_at', 'is', null)
    .executeTakeFirst();
  return Number(res.numUpdatedRows) > 0;
}
