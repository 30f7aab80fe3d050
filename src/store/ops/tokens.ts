import type { Kysely, Selectable } from 'kysely';
import { nowIso } from '../../util/ids.js';
import type { Database, TokensTable } from '../schema.js';

export type TokenRow = Selectable<TokensTable>;

export async function insertToken(
  db: Kysely<Database>,
  token: { id: string; name: string; hash: string; scopes: string[] },
): Promise<TokenRow> {
  return db
    .insertInto('tokens')
    .values({ ...token, scopes: JSON.stringify(token.scopes), created_at: nowIso(), last_used_at: null, revoked_at: null })
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
