import { mkdir, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { mirrorPaths } from '../src/agents/repos/mirror.js';
import { listMirrors } from '../src/agents/repos/prune.js';
import { makeBareRepo } from './helpers/git-http.js';
import { newCache, repoCacheDirs } from './helpers/repo-cache.js';

// The cache's size bound: least recently used mirrors go first, never one a job holds.

let dirs: Awaited<ReturnType<typeof repoCacheDirs>>;
let n = 0;
const dest = () => path.join(dirs.work, `job-${++n}`);
const urls: Record<string, string> = {};
const present = async (dir: string, name: string) =>
  stat(mirrorPaths(dir, urls[name]!).dir).then(
    () => true,
    () => false,
  );

beforeAll(async () => {
  dirs = await repoCacheDirs();
  await mkdir(dirs.work, { recursive: true });
  for (const name of ['a', 'b', 'c', 'd']) {
    const { dir } = await makeBareRepo(dirs.root, `octo/${name}`, { [`${name}.txt`]: `${name}\n`.repeat(1000) });
    urls[name] = pathToFileURL(dir).href;
  }
});
afterAll(async () => {
  await dirs?.cleanup();
});

describe('prune', () => {
  it('removes least recently used mirrors until the cache fits, skipping one in use', async () => {
    const dir = path.join(dirs.cache, 'lru');
    const big = newCache(dir);
    for (const name of ['a', 'b', 'c', 'a']) await big.checkout(urls[name]!, undefined, dest());
    // Now least recently used first: b, c, a.
    const sizes = Object.fromEntries((await listMirrors(dir)).map((m) => [m.paths.key, m.bytes]));
    const size = (name: string) => sizes[mirrorPaths(dir, urls[name]!).key]!;
    const total = size('a') + size('b') + size('c');
    expect(size('b')).toBeGreaterThan(0);

    expect(await newCache(dir, { maxBytes: total - 1 }).prune()).toEqual({ removed: 1, bytes: size('b') });
    expect([await present(dir, 'a'), await present(dir, 'b'), await present(dir, 'c')]).toEqual([true, false, true]);

    // c is held by another runner process (a live pid that is not ours): it stays, a goes.
    const lock = mirrorPaths(dir, urls.c!).lock;
    await writeFile(lock, `${process.ppid} 00000000deadbeef\n`);
    const zero = newCache(dir, { maxBytes: 0 });
    expect(await zero.prune()).toEqual({ removed: 1, bytes: size('a') });
    expect([await present(dir, 'a'), await present(dir, 'c')]).toEqual([false, true]);
    await rm(lock);
    expect(await zero.prune()).toEqual({ removed: 1, bytes: size('c') });
    expect(await listMirrors(dir)).toEqual([]);
    expect(await zero.prune()).toEqual({ removed: 0, bytes: 0 });
  });

  it('runs after each checkout, and a pruned repository is simply cloned again', async () => {
    const dir = path.join(dirs.cache, 'auto');
    const cache = newCache(dir, { maxBytes: 0 });
    const first = await cache.checkout(urls.d!, undefined, dest());
    await vi.waitFor(async () => expect(await present(dir, 'd')).toBe(false), { timeout: 5000 });
    const to = dest();
    expect(await cache.checkout(urls.d!, undefined, to)).toEqual(first);
    expect((await stat(path.join(to, 'd.txt'))).size).toBe(2000);
  });
});
