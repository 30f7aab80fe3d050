import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import SQLite from 'better-sqlite3';
import { Kysely, Migrator, SqliteDialect, sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import * as m0001 from './migrations/0001_init.js';
import { STORE_ENGINES } from '../../test/helpers/postgres.js';
import { openDatabase } from './open.js';
import { openStore, storeFor } from './store.js';

const file = () => path.join(mkdtempSync(path.join(os.tmpdir(), 'paddock-output-')), 'paddock.db');

describe('output storage', () => {
  it('a database from before 0002 still reads: JSON output rows and results with their output', async () => {
    const db = file();
    // The 0001 schema and rows as the runner wrote them then.
    const old = new Kysely<any>({ dialect: new SqliteDialect({ database: new SQLite(db) }) });
    const { error } = await new Migrator({ db: old, provider: { getMigrations: async () => ({ '0001_init': m0001 }) } }).migrateToLatest();
    expect(error).toBeUndefined();
    const now = new Date().toISOString();
    await old
      .insertInto('jobs')
      .values({ id: 'job_old', kind: 'command', spec: '{}', state: 'succeeded', priority: 0, attempts: 1, result: '{"stdout":"a\\u0000b"}', created_at: now, updated_at: now })
      .execute();
    await old
      .insertInto('job_events')
      .values([
        { job_id: 'job_old', seq: 1, type: 'state', data: '{"state":"running"}', created_at: now },
        { job_id: 'job_old', seq: 2, type: 'stdout', data: '{"data":"a\\u0000b"}', created_at: now },
      ])
      .execute();
    await old.destroy();

    const store = await openStore(`sqlite:${db}`);
    try {
      // New rows go after the old ones, in the same seq space.
      const [added] = await store.appendOutput('job_old', [{ stream: 'stdout', bytes: Buffer.from('☃\n') }]);
      expect(added!.seq).toBe(3);
      const events = await store.listEvents('job_old', 0);
      expect(events.map((e) => [e.seq, e.type, e.data])).toEqual([
        [1, 'state', { state: 'running' }],
        [2, 'stdout', { data: 'a\u0000b' }],
        [3, 'stdout', { data: '☃\n' }],
      ]);
      const out = await store.readOutput('job_old', 1024);
      expect(out.stdout.toString()).toBe('a\u0000b☃\n');
      expect(out.stderr.length).toBe(0);
      // Capped per stream.
      const capped = (await store.readOutput('job_old', 4)).stdout;
      expect(capped.equals(Buffer.concat([Buffer.from('a\u0000b'), Buffer.from('☃').subarray(0, 1)]))).toBe(true);
    } finally {
      await store.close();
    }
  });
});

describe.each(STORE_ENGINES)('output storage ($engine)', ({ engine, fresh }) => {
  it('stores output bytes exactly, NULs at one byte each', async () => {
    const db = await openDatabase(await fresh());
    const store = storeFor(db);
    try {
      const bytes = Buffer.from(Array.from({ length: 4096 }, (_, i) => i % 256));
      await store.appendOutput('job_x', [
        { stream: 'stdout', bytes },
        { stream: 'stderr', bytes: Buffer.alloc(1000) },
      ]);
      const out = await store.readOutput('job_x', 1 << 20);
      expect(out.stdout.equals(bytes)).toBe(true);
      expect(out.stderr.equals(Buffer.alloc(1000))).toBe(true);
      const { rows } = await sql<{ n: number }>`select sum(length(bytes)) + sum(length(data)) as n from job_events where job_id = 'job_x'`.execute(db);
      expect(Number(rows[0]!.n)).toBe(4096 + 1000);
    } finally {
      await store.close();
    }
  });

  it('pruning deletes finished jobs with their events, never queued ones, and gives the pages back', async () => {
    const store = await openStore(await fresh());
    try {
      const spec = { kind: 'command', command: ['true'] };
      const add = async (id: string) =>
        (await store.insertJob({ id, kind: 'command', spec, priority: 0, labels: undefined, token_id: null, idempotency_key: null, request_hash: null, driver: 'bwrap' })).row;
      for (let i = 0; i < 30; i++) {
        await add(`job_${String(i).padStart(2, '0')}`);
        await store.appendOutput(`job_${String(i).padStart(2, '0')}`, [{ stream: 'stdout', bytes: Buffer.alloc(60_000, 7) }]);
        await store.transitionJob({ id: `job_${String(i).padStart(2, '0')}`, from: ['queued'], to: 'succeeded' });
      }
      await add('job_zz_queued');
      const before = await store.databaseSize();
      expect(await store.pruneJobs({ keep: 5, limit: 1000 })).toMatchObject({ jobs: 25 });
      expect(await store.getJob('job_00')).toBeUndefined();
      expect(await store.listEvents('job_00', 0)).toEqual([]);
      expect((await store.getJob('job_29'))?.state).toBe('succeeded');
      expect(await store.pruneJobs({ finishedBefore: new Date(Date.now() + 1000).toISOString(), limit: 1000 })).toMatchObject({ jobs: 5 });
      expect((await store.getJob('job_zz_queued'))?.state).toBe('queued');
      await store.releaseFreePages(1_000_000);
      const after = await store.databaseSize();
      expect(after.freeBytes).toBe(0);
      // SQLite gives the file's pages back; PostgreSQL's autovacuum reclaims in its own time.
      if (engine === 'sqlite') expect(after.bytes).toBeLessThan(before.bytes / 10);
      else expect(after.bytes).toBeGreaterThan(0);
    } finally {
      await store.close();
    }
  });
});
