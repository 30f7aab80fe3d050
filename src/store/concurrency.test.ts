import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { newJob } from '../../test/helpers/new-job.js';
import { sharedPostgres, STORE_ENGINES } from '../../test/helpers/postgres.js';
import { PaddockError } from '../errors.js';
import { openStore, type Store } from './store.js';


/**
 * What several writers on one database do at once. On PostgreSQL each is a host with its own store
 * (its own connections). SQLite is one host's: its writers share one store (one connection), as the
 * runner's do; processes opening one file at once are tested below.
 */
async function hosts(url: string, n: number): Promise<Store[]> {
  if (url.startsWith('sqlite:')) {
    const store = await openStore(url);
    let open = n;
    const shared: Store = { ...store, close: async () => void (--open === 0 && (await store.close())) };
    return Array.from({ length: n }, () => shared);
  }
  return Promise.all(Array.from({ length: n }, () => openStore(url)));
}

/** Opens the store in a separate `node` (the built dist/), as `paddock serve` and a CLI command do. */
function openInProcess(url: string): Promise<string> {
  const code = `const { openStore } = await import(${JSON.stringify(DIST_STORE)});
    const s = await openStore(process.argv[1]); await s.close(); console.log('ok');`;
  return new Promise((resolve) => {
    execFile(process.execPath, ['--input-type=module', '-e', code, url], (err, stdout, stderr) =>
      resolve(err ? `failed: ${stderr.trim()}` : stdout.trim()),
    );
  });
}
const DIST_STORE = fileURLToPath(new URL('../../dist/store/store.js', import.meta.url));

describe.each(STORE_ENGINES)('several writers on one store ($engine)', ({ fresh }) => {
  it('hosts claiming at once take every job exactly once', async () => {
    const url = await fresh();
    const stores = await hosts(url, 3);
    try {
      const ids = new Set<string>();
      for (let i = 0; i < 60; i++) ids.add((await stores[0]!.insertJob(newJob())).row.id);
      const claimed: string[] = [];
      await Promise.all(
        stores.flatMap((store, h) =>
          // Two claimers per host, as a host with free slots runs them.
          [0, 1].map(async () => {
            for (;;) {
              const c = await store.claimNextJob(`h${h}`, 60_000);
              if (!c) return;
              claimed.push(c.row.id);
            }
          }),
        ),
      );
      expect(claimed.length).toBe(60);
      expect(new Set(claimed)).toEqual(ids);
    } finally {
      await Promise.all(stores.map((s) => s.close()));
    }
  });

  it('hosts claiming batches at once take every job exactly once, at most the batch each time', async () => {
    const url = await fresh();
    const stores = await hosts(url, 3);
    try {
      const ids = new Set<string>();
      for (let i = 0; i < 90; i++) ids.add((await stores[0]!.insertJob(newJob(i % 3))).row.id);
      const claimed: string[] = [];
      const sizes: number[] = [];
      await Promise.all(
        stores.flatMap((store, h) =>
          [0, 1].map(async () => {
            for (;;) {
              const batch = await store.claimJobs(`h${h}`, 60_000, 4);
              if (batch.length === 0) return;
              sizes.push(batch.length);
              for (const { row, event } of batch) {
                expect(row).toMatchObject({ state: 'running', host: `h${h}`, attempts: 1 });
                // Each job's own claim event, as its first write after the submit's.
                expect(event).toMatchObject({ type: 'state', data: { state: 'running', attempt: 1 } });
                expect((await store.listEvents(row.id, 0)).map((e) => e.seq)).toContain(event.seq);
                claimed.push(row.id);
              }
            }
          }),
        ),
      );
      expect(claimed.length).toBe(90);
      expect(new Set(claimed)).toEqual(ids);
      expect(Math.max(...sizes)).toBeLessThanOrEqual(4);
      expect(sizes.some((n) => n > 1)).toBe(true);
    } finally {
      await Promise.all(stores.map((s) => s.close()));
    }
  });

  it("writers racing on one job's events get gap-free, distinct seqs", async () => {
    const url = await fresh();
    const stores = await hosts(url, 3);
    try {
      const { row } = await stores[0]!.insertJob(newJob());
      const seqs = (
        await Promise.all(
          stores.flatMap((store, h) =>
            Array.from({ length: 10 }, (_, i) =>
              i % 2
                ? store.appendEvent(row.id, 'progress', { h, i }).then((e) => [e.seq])
                : store.appendOutput(row.id, [{ stream: 'stdout', bytes: Buffer.from(`${h}.${i}\n`) }]).then((es) => es.map((e) => e.seq)),
            ),
          ),
        )
      ).flat();
      // seq 1 is the insert's `queued` event.
      expect(seqs.sort((a, b) => a - b)).toEqual(Array.from({ length: 30 }, (_, i) => i + 2));
      const events = await stores[1]!.listEvents(row.id, 0);
      expect(events.map((e) => e.seq)).toEqual(Array.from({ length: 31 }, (_, i) => i + 1));
    } finally {
      await Promise.all(stores.map((s) => s.close()));
    }
  });

  it('hosts starting at once on a fresh database migrate it once, all of them usable', async () => {
    const url = await fresh();
    expect(await Promise.all(Array.from({ length: 4 }, () => openInProcess(url)))).toEqual(['ok', 'ok', 'ok', 'ok']);
    const stores = await hosts(url, 4);
    try {
      const { row } = await stores[3]!.insertJob(newJob());
      for (const s of stores) expect((await s.getJob(row.id))?.state).toBe('queued');
    } finally {
      await Promise.all(stores.map((s) => s.close()));
    }
  });
});

describe.runIf(STORE_ENGINES.some((e) => e.engine === 'postgres'))('a PostgreSQL store that cannot be reached', () => {
  it('fails with store_unavailable, never showing the password', async () => {
    const server = await sharedPostgres();
    const url = `postgres://postgres:s3cret-pw@127.0.0.1:${server.port}/no_such_database`;
    const err = await openStore(url).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(PaddockError);
    expect((err as PaddockError).code).toBe('store_unavailable');
    expect((err as PaddockError).message).toContain('postgres://postgres:***@127.0.0.1');
    expect((err as PaddockError).message).toContain('no_such_database');
    expect((err as PaddockError).message).not.toContain('s3cret-pw');
  });

  it('an unknown scheme is a config error naming both kinds of URL', async () => {
    const err = await openStore('mysql://x@h/db').catch((e: unknown) => e);
    expect((err as PaddockError).code).toBe('config_invalid');
    expect((err as PaddockError).message).toMatch(/sqlite:<path> or postgres:\/\//);
  });
});
