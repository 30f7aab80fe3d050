import { readFileSync } from 'node:fs';
import path from 'node:path';
import { PaddockClient } from '../client/index.js';
import { defaultDataDir } from '../config/schema.js';

export interface ClientFlags {
  url?: string | undefined;
  token?: string | undefined;
}

/**
 * The CLI's client (src/client/) for the runner at --url / PADDOCK_URL. The
 * token comes from --token, PADDOCK_TOKEN, or — on the runner's own host —
 * the admin token file in the default data dir.
 */
export function connect(flags: ClientFlags): PaddockClient {
  return new PaddockClient({
    url: flags.url ?? process.env.PADDOCK_URL ?? 'http://127.0.0.1:7878',
    token: flags.token ?? process.env.PADDOCK_TOKEN ?? readLocalAdminToken(),
  });
}

function readLocalAdminToken(): string | undefined {
  try {
    const dir = process.env.PADDOCK_DATA_DIR ?? defaultDataDir();
    return readFileSync(path.join(dir, 'admin.token'), 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}
