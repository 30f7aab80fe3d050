import { spawnSync } from 'node:child_process';
import { mkdir, readdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { basicAuth } from '../src/agents/repo-cache.js';
import { mirrorPaths } from '../src/agents/repos/mirror.js';
import { git, type GitHttpServer, makeBareRepo, startGitHttp } from './helpers/git-http.js';
import { commitOnServer, newCache, rejectsWith, repoCacheDirs } from './helpers/repo-cache.js';

// The repository cache against a real git smart-HTTP server on loopback and file:// repositories.

let dirs: Awaited<ReturnType<typeof repoCacheDirs>>;
let server: GitHttpServer;
let privateServer: GitHttpServer;
let first: string;
let n = 0;
const dest = () => path.join(dirs.work, `job-${++n}`);
const posts = (s: GitHttpServer, repo: string) => s.requests.filter((r) => r.method === 'POST' && r.path === `/${repo}.git/git-upload-pack`).length;

beforeAll(async () => {
  dirs = await repoCacheDirs();
  await mkdir(dirs.work, { recursive: true });
  ({ commit: first } = await makeBareRepo(dirs.root, 'octo/hello', { 'README.md': 'hello\n', 'src/a.txt': 'a\n' }));
  server = await startGitHttp({ root: dirs.root });
  privateServer = await startGitHttp({ root: dirs.root, token: 'tok-s3cret-value' });
});
afterAll(async () => {
  await server?.close();
  await privateServer?.close();
  await dirs?.cleanup();
});

describe('checkout', () => {
  it('clones a mirror once, then only fetches: the warm checkout downloads nothing new', async () => {
    const cache = newCache(path.join(dirs.cache, 'warm'));
    const url = `${server.url}/octo/hello.git`;
    const cold = await cache.checkout(url, undefined, dest());
    expect(cold).toEqual({ commit: first, ref: 'refs/heads/main' });
    const mirror = mirrorPaths(path.join(dirs.cache, 'warm'), url).dir;
    const packs = async () => (await readdir(path.join(mirror, 'objects/pack'))).sort();
    const packsBefore = await packs();
    const inode = (await stat(mirror)).ino;
    const coldPosts = posts(server, 'octo/hello');
    expect(coldPosts).toBe(2); // ls-refs, then fetch

    const times: number[] = [];
    for (let i = 0; i < 5; i++) {
      const to = dest();
      const t0 = performance.now();
      expect(await cache.checkout(url, undefined, to)).toEqual({ commit: first, ref: 'refs/heads/main' });
      times.push(performance.now() - t0);
      expect(await readFile(path.join(to, 'src/a.txt'), 'utf8')).toBe('a\n');
    }
    times.sort((a, b) => a - b);
    console.log(`warm checkout of a small repository over loopback http: median ${times[2]!.toFixed(0)} ms`);
    // Each warm checkout asked the server for its refs (ls-refs) and for no pack.
    expect(posts(server, 'octo/hello') - coldPosts).toBe(5);
    expect(await packs()).toEqual(packsBefore);
    expect((await stat(mirror)).ino).toBe(inode);

    // Fetched before each job: a new commit on the server is what the next job gets.
    const second = await commitOnServer(path.join(dirs.root, 'octo/hello.git'), path.join(dirs.work, 'scratch'), { 'src/a.txt': 'b\n' });
    const to = dest();
    expect(await cache.checkout(url, 'main', to)).toEqual({ commit: second, ref: 'refs/heads/main' });
    expect(await readFile(path.join(to, 'src/a.txt'), 'utf8')).toBe('b\n');
  });

  it('leaves a self-contained work tree: works without the mirror, origin is the real URL, nothing names the mirror', async () => {
    const cacheDir = path.join(dirs.cache, 'contained');
    const cache = newCache(cacheDir);
    const url = `${server.url}/octo/hello.git`;
    const to = dest();
    const { commit } = await cache.checkout(url, 'main', to);
    await rename(cacheDir, `${cacheDir}.away`);
    try {
      expect(await git(['rev-parse', 'HEAD'], { cwd: to })).toBe(commit);
      expect(await git(['symbolic-ref', 'HEAD'], { cwd: to })).toBe('refs/heads/main');
      expect(await git(['status', '--porcelain'], { cwd: to })).toBe('');
      await git(['fsck', '--no-progress'], { cwd: to });
      await writeFile(path.join(to, 'README.md'), 'changed\n');
      expect(await git(['diff', '--stat', commit], { cwd: to })).toContain('README.md');
      expect(await git(['remote', 'get-url', 'origin'], { cwd: to })).toBe(url);
      await expect(stat(path.join(to, '.git/objects/info/alternates'))).rejects.toThrow();
      const mentions = spawnSync('grep', ['-rlF', cacheDir, path.join(to, '.git')], { encoding: 'utf8' });
      expect(mentions.stdout).toBe('');
      expect(await readdir(path.join(to, '.git'))).not.toContain('hooks');
    } finally {
      await rename(`${cacheDir}.away`, cacheDir);
    }
  });

  it('checks out branches (as a local branch), tags and full or abbreviated commits', async () => {
    const bare = path.join(dirs.root, 'octo/refs.git');
    const { commit: base } = await makeBareRepo(dirs.root, 'octo/refs', { 'f.txt': 'main\n' });
    const dev = await commitOnServer(bare, path.join(dirs.work, 'scratch'), { 'f.txt': 'dev\n' }, 'main');
    await git(['update-ref', 'refs/heads/feature/x', dev], { env: { GIT_DIR: bare } });
    await git(['update-ref', 'refs/heads/main', base], { env: { GIT_DIR: bare } });
    await git(['tag', '-a', '-m', 'release', 'v1.0', base], { env: { GIT_DIR: bare } });
    const cache = newCache(path.join(dirs.cache, 'refs'));
    const url = `${server.url}/octo/refs.git`;

    let to = dest();
    expect(await cache.checkout(url, 'feature/x', to)).toEqual({ commit: dev, ref: 'refs/heads/feature/x' });
    expect(await git(['symbolic-ref', 'HEAD'], { cwd: to })).toBe('refs/heads/feature/x');
    expect(await readFile(path.join(to, 'f.txt'), 'utf8')).toBe('dev\n');

    to = dest();
    expect(await cache.checkout(url, 'v1.0', to)).toEqual({ commit: base, ref: 'refs/tags/v1.0' });
    expect(await readFile(path.join(to, 'f.txt'), 'utf8')).toBe('main\n');

    to = dest();
    expect(await cache.checkout(url, dev, to)).toEqual({ commit: dev, ref: dev });
    await expect(git(['symbolic-ref', '-q', 'HEAD'], { cwd: to })).rejects.toThrow(); // detached
    expect(await cache.checkout(url, dev.slice(0, 10), dest())).toEqual({ commit: dev, ref: dev });
  });

  it('fetches a commit that no branch or tag reaches by its id', async () => {
    const bare = path.join(dirs.root, 'octo/pulls.git');
    await makeBareRepo(dirs.root, 'octo/pulls', { 'f.txt': '1\n' });
    const cache = newCache(path.join(dirs.cache, 'pulls'));
    const url = `${server.url}/octo/pulls.git`;
    await cache.checkout(url, undefined, dest());
    const head = await commitOnServer(bare, path.join(dirs.work, 'scratch'), { 'f.txt': '2\n' }, 'main');
    await git(['update-ref', 'refs/pull/1/head', head], { env: { GIT_DIR: bare } });
    await git(['update-ref', 'refs/heads/main', (await git(['rev-parse', `${head}^`], { env: { GIT_DIR: bare } }))], { env: { GIT_DIR: bare } });
    const to = dest();
    expect(await cache.checkout(url, head, to)).toEqual({ commit: head, ref: head });
    expect(await readFile(path.join(to, 'f.txt'), 'utf8')).toBe('2\n');
  });

  it('serves concurrent checkouts of one repository with one clone, in one process and across two', async () => {
    await makeBareRepo(dirs.root, 'octo/busy', { 'x.txt': 'x\n' });
    const url = `${server.url}/octo/busy.git`;
    const cache = newCache(path.join(dirs.cache, 'busy'));
    const outs = await Promise.all([1, 2, 3].map(() => cache.checkout(url, undefined, dest())));
    expect(new Set(outs.map((o) => o.commit)).size).toBe(1);
    // Three jobs waited together: one clone served them all (no fetch after it).
    expect(server.requests.filter((r) => r.path.startsWith('/octo/busy.git/info/refs')).length).toBe(1);

    // Two caches on one dir stand for two runner processes: only the lock file keeps them apart.
    const dir = path.join(dirs.cache, 'shared');
    const [a, b] = [newCache(dir), newCache(dir)];
    const dests = [dest(), dest(), dest(), dest()];
    const both = await Promise.all([a.checkout(url, 'main', dests[0]!), b.checkout(url, 'main', dests[1]!), a.checkout(url, 'main', dests[2]!), b.checkout(url, 'main', dests[3]!)]);
    expect(new Set(both.map((o) => o.commit)).size).toBe(1);
    for (const d of dests) expect(await readFile(path.join(d, 'x.txt'), 'utf8')).toBe('x\n');
    await expect(stat(mirrorPaths(dir, url).lock)).rejects.toThrow();
  });

  it('takes over a lock left by a dead process and waits for (then times out on) a live one', async () => {
    await makeBareRepo(dirs.root, 'octo/locked', { 'x.txt': 'x\n' });
    const url = `${server.url}/octo/locked.git`;
    const dir = path.join(dirs.cache, 'locked');
    await mkdir(dir, { recursive: true });
    const lock = mirrorPaths(dir, url).lock;
    const dead = spawnSync('true').pid!;
    await writeFile(lock, `${dead} 0123456789abcdef\n`);
    await newCache(dir).checkout(url, undefined, dest());
    await writeFile(lock, `${process.ppid} 0123456789abcdef\n`);
    const err = await rejectsWith(newCache(dir, { timeoutMs: 1500 }).checkout(url, undefined, dest()), 'repo_timeout');
    expect(err.message).toMatch(/locked/);
  });

  it('answers an unknown ref with repo_ref_not_found', async () => {
    const cache = newCache(path.join(dirs.cache, 'unknown'));
    const url = `${server.url}/octo/hello.git`;
    for (const ref of ['nope', 'feature/none', 'deadbeef', 'd'.repeat(40)]) {
      const to = dest();
      const err = await rejectsWith(cache.checkout(url, ref, to), 'repo_ref_not_found');
      expect(err.message).toContain(ref);
      await expect(stat(to)).rejects.toThrow();
    }
    await rejectsWith(cache.checkout(url, '--upload-pack=x', dest()), 'validation_failed');
  });

  it('answers an unreachable or unknown repository with repo_unavailable and git’s reason', async () => {
    const cache = newCache(path.join(dirs.cache, 'unreachable'));
    const closed = http.createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((r) => closed.close(() => r()));
    let err = await rejectsWith(cache.checkout(`http://127.0.0.1:${port}/o/r.git`, undefined, dest()), 'repo_unavailable');
    expect(err.message).toMatch(/Failed to connect|Connection refused|Couldn't connect/);
    err = await rejectsWith(cache.checkout(`${server.url}/octo/none.git`, undefined, dest()), 'repo_unavailable');
    expect(err.message).toMatch(/not found|404/);
    err = await rejectsWith(cache.checkout(pathToFileURL(path.join(dirs.root, 'none.git')).href, undefined, dest()), 'repo_unavailable');
    expect(err.message).toMatch(/does not appear to be a git repository|not found|No such/);
    await expect(readdir(path.join(dirs.cache, 'unreachable'))).resolves.not.toContain(expect.stringMatching(/^[0-9a-f]{32}$/));
    await rejectsWith(newCache(path.join(dirs.cache, 'strict'), { policy: { allowHttp: false, allowLocal: false } }).checkout(`${server.url}/octo/hello.git`, undefined, dest()), 'validation_failed');
  });

  it('checks out file:// URLs and local paths when the policy allows them', async () => {
    const cache = newCache(path.join(dirs.cache, 'local'));
    const bare = path.join(dirs.root, 'octo/hello.git');
    const viaUrl = await cache.checkout(pathToFileURL(bare).href, undefined, dest());
    const viaPath = await cache.checkout(bare, undefined, dest());
    expect(viaPath.commit).toBe(viaUrl.commit);
  });

  it('needs the token for a private repository, never shows it, and never stores it', async () => {
    const cacheDir = path.join(dirs.cache, 'private');
    const cache = newCache(cacheDir);
    const url = `${privateServer.url}/octo/hello.git`;
    const token = 'tok-s3cret-value';
    let err = await rejectsWith(cache.checkout(url, undefined, dest()), 'repo_unavailable');
    expect(err.message).toMatch(/Authentication failed|could not read Username/);
    const wrong = basicAuth('x-access-token', 'wrong-token-value');
    err = await rejectsWith(cache.checkout(url, undefined, dest(), { auth: wrong }), 'repo_unavailable');
    const shown = JSON.stringify({ m: err.message, d: err.details, s: err.stack });
    expect(shown).not.toContain('wrong-token-value');
    expect(shown).not.toContain(wrong.header.split(' ').pop());

    const auth = basicAuth('x-access-token', token);
    await cache.checkout(url, undefined, dest(), { auth });
    const config = await readFile(path.join(mirrorPaths(cacheDir, url).dir, 'config'), 'utf8');
    expect(config).not.toMatch(/extraheader|authorization/i);
    expect(spawnSync('grep', ['-rlF', token, cacheDir]).stdout.toString()).toBe('');
    expect(spawnSync('grep', ['-rlF', auth.header.split(' ').pop()!, cacheDir]).stdout.toString()).toBe('');

    // The mirror is there now, but a job without the token still does not get its contents.
    await rejectsWith(cache.checkout(url, undefined, dest()), 'repo_unavailable');
    await rejectsWith(cache.checkout(url, undefined, dest(), { auth: wrong }), 'repo_unavailable');
  });

  it('ends a git call that hangs with repo_timeout, and one aborted by its signal with the reason', async () => {
    const sockets = new Set<import('node:net').Socket>();
    const hang = http.createServer(() => {});
    hang.on('connection', (s) => sockets.add(s));
    await new Promise<void>((r) => hang.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(hang.address() as AddressInfo).port}/o/r.git`;
    try {
      const t0 = Date.now();
      await rejectsWith(newCache(path.join(dirs.cache, 'hang'), { timeoutMs: 1000 }).checkout(url, undefined, dest()), 'repo_timeout');
      expect(Date.now() - t0).toBeLessThan(5000);
      const ac = new AbortController();
      setTimeout(() => ac.abort(new Error('job cancelled')), 200);
      await expect(newCache(path.join(dirs.cache, 'hang')).checkout(url, undefined, dest(), { signal: ac.signal })).rejects.toThrow('job cancelled');
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => hang.close(() => r()));
    }
  });
});
