import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { expect } from 'vitest';
import { RepoCache, type RepoCacheOptions } from '../../src/agents/repo-cache.js';
import { PaddockError } from '../../src/errors.js';
import { git } from './git-http.js';

/** A temp dir tree for one repo cache test file: `root` (served repos), `cache`, `work`. */
export async function repoCacheDirs(): Promise<{ root: string; cache: string; work: string; cleanup(): Promise<void> }> {
  const base = await mkdtemp(path.join(tmpdir(), 'paddock-repocache-'));
  return {
    root: path.join(base, 'served'),
    cache: path.join(base, 'cache'),
    work: path.join(base, 'work'),
    cleanup: async () => {
      await Promise.all(caches.splice(0).map((c) => c.close()));
      await rm(base, { recursive: true, force: true });
    },
  };
}

const caches: RepoCache[] = [];

/** A cache for tests (http and local allowed); repoCacheDirs().cleanup() waits for its background prunes. */
export function newCache(dir: string, over: Partial<RepoCacheOptions> = {}): RepoCache {
  const cache = new RepoCache({
    dir,
    maxBytes: 1e12,
    timeoutMs: 20_000,
    policy: { allowHttp: true, allowLocal: true },
    log: pino({ level: 'silent' }),
    ...over,
  });
  caches.push(cache);
  return cache;
}

/** Awaits a rejection with a PaddockError of `code` and returns it. */
export async function rejectsWith(p: Promise<unknown>, code: string): Promise<PaddockError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, `expected ${code}`).toBeInstanceOf(PaddockError);
  expect((err as PaddockError).code, (err as Error).message).toBe(code);
  return err as PaddockError;
}

/** Adds a commit to a bare repo on the server side, through a scratch clone (file access, not HTTP). */
export async function commitOnServer(bare: string, scratch: string, files: Record<string, string>, branch = 'main'): Promise<string> {
  const { mkdir, writeFile } = await import('node:fs/promises');
  await rm(scratch, { recursive: true, force: true });
  await git(['clone', '--quiet', '--no-local', '--branch', branch, '--', bare, scratch]);
  for (const [f, c] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(scratch, f)), { recursive: true });
    await writeFile(path.join(scratch, f), c);
  }
  await git(['add', '-A'], { cwd: scratch });
  await git(['commit', '--quiet', '-m', 'server change'], { cwd: scratch });
  await git(['push', '--quiet', 'origin', `HEAD:refs/heads/${branch}`], { cwd: scratch });
  const commit = await git(['rev-parse', 'HEAD'], { cwd: scratch });
  await rm(scratch, { recursive: true, force: true });
  return commit;
}
