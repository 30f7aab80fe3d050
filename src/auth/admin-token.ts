import { rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Store } from '../store/store.js';
import { createToken } from './tokens.js';

/**
 * On a store with no tokens, creates an admin token and writes it to
 * `<data dir>/admin.token` (0600). Returns the file path when it created one.
 * The token itself is never logged.
 */
export async function ensureAdminToken(store: Store, dataDir: string): Promise<string | undefined> {
  if ((await store.listTokens()).length > 0) return undefined;
  const file = path.join(dataDir, 'admin.token');
  const { token } = await createToken(store, 'admin', ['admin']);
  // A fresh file, so the 0600 mode applies from the first byte written.
  await rm(file, { force: true });
  await writeFile(file, `${token}\n`, { mode: 0o600, flag: 'wx' });
  return file;
}
