import { sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../config/load.js';
import { newId } from '../util/ids.js';
import { STORE_ENGINES } from '../../test/helpers/postgres.js';
import { openDatabase } from './open.js';
import { type SandboxRow, type Store, storeFor } from './store.js';

let store: Store;
let db: Awaited<ReturnType<typeof openDatabase>>;

const limits = loadConfig({ env: {}, flags: { data_dir: '/tmp/unused' } }).limits.default;
const now = new Date().toISOString();
const row = (over: Partial<SandboxRow> = {}): SandboxRow => ({
  id: newId('sbx'),
  token_id: 'tok',
  state: 'running',
  reason: null,
  detail: null,
  driver: 'docker',
  image: 'base',
  spec: { limits, env: { A: 'b' }, network: 'none', cwd: '/work', timeout_ms: 1000, max_lifetime_ms: 2000 },
  labels: {},
  host_id: 'h1',
  created_at: now,
  last_used_at: now,
  expires_at: now,
  max_lifetime_at: now,
  ended_at: null,
  ...over,
});

describe.each(STORE_ENGINES)('sandbox store ops ($engine)', ({ fresh }) => {
  beforeEach(async () => {
    db = await openDatabase(await fresh());
    store = storeFor(db);
  });
  afterEach(() => store.close());

  it('round-trips a row with its JSON columns parsed', async () => {
    const r = row({ labels: { 'example.com/tier': 'web' } });
    expect(await store.insertSandbox(r)).toEqual(r);
    expect(await store.getSandbox(r.id)).toEqual(r);
  });

  it('filters lists by token, state and labels (keys with . and /), newest first with a cursor', async () => {
    const a = await store.insertSandbox(row({ labels: { 'example.com/tier': 'web', n: '1' } }));
    const b = await store.insertSandbox(row({ labels: { 'example.com/tier': 'web', n: '2' } }));
    await store.insertSandbox(row({ labels: { 'example.com/tier': 'db' } }));
    await store.insertSandbox(row({ token_id: 'other', labels: { 'example.com/tier': 'web' } }));
    const web = await store.listSandboxes({ tokenId: 'tok', labels: { 'example.com/tier': 'web' }, limit: 1 });
    expect(web.rows.map((x) => x.id)).toEqual([b.id]);
    expect(web.next).toBe(b.id);
    const rest = await store.listSandboxes({ tokenId: 'tok', labels: { 'example.com/tier': 'web' }, limit: 5, before: web.next! });
    expect(rest).toEqual({ rows: [a], next: null });
    expect((await store.listSandboxes({ tokenId: 'tok', labels: { 'example.com/tier': 'web', n: '2' }, limit: 5 })).rows).toEqual([b]);
    expect((await store.listSandboxes({ tokenId: 'tok', state: 'paused', limit: 5 })).rows).toEqual([]);
  });

  it('writes an end once: a destroyed sandbox takes no more updates', async () => {
    const r = await store.insertSandbox(row());
    expect((await store.updateSandbox(r.id, { state: 'destroyed', reason: 'deleted', ended_at: now }))!.state).toBe('destroyed');
    expect(await store.updateSandbox(r.id, { state: 'running', last_used_at: now })).toBeUndefined();
    expect((await store.getSandbox(r.id))!).toMatchObject({ state: 'destroyed', reason: 'deleted' });
  });

  it('lists what a host holds live; deletes', async () => {
    const live = await store.insertSandbox(row());
    await store.insertSandbox(row({ state: 'destroyed', reason: 'deleted', ended_at: now }));
    await store.insertSandbox(row({ host_id: 'h2' }));
    expect((await store.listLiveSandboxes('h1')).map((x) => x.id)).toEqual([live.id]);
    expect(await store.deleteSandbox(live.id)).toBe(true);
    expect(await store.getSandbox(live.id)).toBeUndefined();
  });

  it('a stored row that does not fit its schema fails as internal, naming the column', async () => {
    const r = await store.insertSandbox(row());
    await sql`update sandboxes set spec = ${'{"limits": 1}'} where id = ${r.id}`.execute(db);
    await expect(store.getSandbox(r.id)).rejects.toMatchObject({ code: 'internal', message: expect.stringMatching(/spec/) });
    await sql`update sandboxes set spec = ${'not json'}, state = 'running' where id = ${r.id}`.execute(db);
    await expect(store.getSandbox(r.id)).rejects.toMatchObject({ code: 'internal' });
    const s = await store.insertSandbox(row());
    await sql`update sandboxes set state = 'exploded' where id = ${s.id}`.execute(db);
    await expect(store.listSandboxes({ limit: 10 })).rejects.toMatchObject({ code: 'internal', message: expect.stringMatching(/state/) });
  });
});
