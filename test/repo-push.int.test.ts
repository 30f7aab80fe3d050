import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { basicAuth } from '../src/agents/repo-cache.js';
import { git, type GitHttpServer, makeBareRepo, startGitHttp } from './helpers/git-http.js';
import { newCache, rejectsWith, repoCacheDirs } from './helpers/repo-cache.js';

// pushPatch: a sandbox's `git diff --binary` committed on its base and pushed, over real smart HTTP.

let dirs: Awaited<ReturnType<typeof repoCacheDirs>>;
let server: GitHttpServer;
let privateServer: GitHttpServer;
let base: string;
let url: string;
let n = 0;
const dest = () => path.join(dirs.work, `job-${++n}`);
const author = { name: 'Paddock Bot', email: 'bot@paddock.test' };
const bare = () => path.join(dirs.root, 'octo/hello.git');
const serverRef = async (ref: string) => git(['for-each-ref', '--format=%(objectname)', ref], { env: { GIT_DIR: bare() } });

/** A patch as the sandbox makes it: the work tree's changes against the base, binary included. */
async function diffOf(change: (dir: string) => Promise<void>): Promise<Buffer> {
  const cache = newCache(path.join(dirs.cache, 'diffs'));
  const to = dest();
  await cache.checkout(url, base, to);
  await change(to);
  await git(['add', '-A'], { cwd: to });
  // (the helper trims its output; a patch ends with a newline)
  return Buffer.from(`${await git(['diff', '--cached', '--binary', base], { cwd: to })}\n`);
}

beforeAll(async () => {
  dirs = await repoCacheDirs();
  await mkdir(dirs.work, { recursive: true });
  ({ commit: base } = await makeBareRepo(dirs.root, 'octo/hello', { 'README.md': 'hello\n', 'src/a.txt': 'a\n', 'old.txt': 'old\n' }));
  server = await startGitHttp({ root: dirs.root });
  privateServer = await startGitHttp({ root: dirs.root, token: 'push-tok-9876' });
  url = `${server.url}/octo/hello.git`;
});
afterAll(async () => {
  await server?.close();
  await privateServer?.close();
  await dirs?.cleanup();
});

describe('pushPatch', () => {
  it('commits the patch on its base (text, binary, deletion) and pushes it, replacing its own paddock/ branch', async () => {
    const png = randomBytes(3000);
    const patch = await diffOf(async (d) => {
      await writeFile(path.join(d, 'src/a.txt'), 'a\nchanged\n');
      await writeFile(path.join(d, 'img.bin'), png);
      await rm(path.join(d, 'old.txt'));
    });
    const cache = newCache(path.join(dirs.cache, 'push'));
    const { commit } = await cache.pushPatch({ url, base, patch, branch: 'paddock/issue-1-fix', message: 'Fix #1\n\nBy an agent.', author });
    expect(await serverRef('refs/heads/paddock/issue-1-fix')).toBe(commit);
    const check = dest();
    await git(['clone', '--quiet', '--branch', 'paddock/issue-1-fix', '--', url, check]);
    expect(await readFile(path.join(check, 'src/a.txt'), 'utf8')).toBe('a\nchanged\n');
    expect((await readFile(path.join(check, 'img.bin'))).equals(png)).toBe(true);
    expect(await readdir(check)).not.toContain('old.txt');
    expect(await git(['log', '-1', '--format=%P|%an <%ae>|%cn|%B'], { cwd: check })).toBe(`${base}|Paddock Bot <bot@paddock.test>|Paddock Bot|Fix #1\n\nBy an agent.`);

    // A rerun pushes other work from the same base: forced, because the branch is Paddock's.
    const again = await diffOf(async (d) => writeFile(path.join(d, 'README.md'), 'rerun\n'));
    const second = await cache.pushPatch({ url, base, patch: again.toString(), branch: 'paddock/issue-1-fix', message: 'Fix #1 again', author });
    expect(await serverRef('refs/heads/paddock/issue-1-fix')).toBe(second.commit);
  });

  it('never forces a branch that is not paddock/: a non-fast-forward push is repo_push_rejected', async () => {
    const cache = newCache(path.join(dirs.cache, 'reject'));
    const one = await diffOf(async (d) => writeFile(path.join(d, 'one.txt'), '1\n'));
    const two = await diffOf(async (d) => writeFile(path.join(d, 'two.txt'), '2\n'));
    const { commit } = await cache.pushPatch({ url, base, patch: one, branch: 'feature/agent', message: 'one', author });
    const err = await rejectsWith(cache.pushPatch({ url, base, patch: two, branch: 'feature/agent', message: 'two', author }), 'repo_push_rejected');
    expect(err.message).toMatch(/non-fast-forward|fetch first/);
    expect(err.details).toMatchObject({ branch: 'feature/agent', reason: expect.stringMatching(/rejected/) });
    expect(await serverRef('refs/heads/feature/agent')).toBe(commit);
  });

  it('reports a push a server hook declines as repo_push_rejected with its reason', async () => {
    const { commit: hookBase } = await makeBareRepo(dirs.root, 'octo/hooked', { 'f.txt': 'f\n' });
    const hook = path.join(dirs.root, 'octo/hooked.git/hooks/pre-receive');
    await mkdir(path.dirname(hook), { recursive: true });
    await writeFile(hook, '#!/bin/sh\necho "protected by policy" >&2\nexit 1\n');
    await chmod(hook, 0o755);
    const patch = 'diff --git a/f.txt b/f.txt\n--- a/f.txt\n+++ b/f.txt\n@@ -1 +1 @@\n-f\n+g\n';
    const err = await rejectsWith(
      newCache(path.join(dirs.cache, 'hook')).pushPatch({ url: `${server.url}/octo/hooked.git`, base: hookBase, patch, branch: 'paddock/x', message: 'm', author }),
      'repo_push_rejected',
    );
    expect(err.message).toMatch(/pre-receive hook declined/);
  });

  it('pushes with the token to a private repository and keeps it out of errors', async () => {
    const cache = newCache(path.join(dirs.cache, 'private'));
    const purl = `${privateServer.url}/octo/hello.git`;
    const patch = await diffOf(async (d) => writeFile(path.join(d, 'p.txt'), 'p\n'));
    const req = { url: purl, base, patch, branch: 'paddock/private', message: 'private', author };
    const wrong = basicAuth('x-access-token', 'not-the-push-token');
    const err = await rejectsWith(cache.pushPatch({ ...req, auth: wrong }), 'repo_unavailable');
    expect(JSON.stringify({ m: err.message, d: err.details })).not.toMatch(/not-the-push-token|bm90LXRoZS1wdXNoLXRva2Vu/);
    const { commit } = await cache.pushPatch({ ...req, auth: basicAuth('x-access-token', 'push-tok-9876') });
    expect(await serverRef('refs/heads/paddock/private')).toBe(commit);
  });

  it('refuses what it cannot commit: unknown base, bad branch, empty patch, bad author', async () => {
    const cache = newCache(path.join(dirs.cache, 'bad'));
    const patch = await diffOf(async (d) => writeFile(path.join(d, 'x.txt'), 'x\n'));
    const ok = { url, base, patch, branch: 'paddock/ok', message: 'm', author };
    await rejectsWith(cache.pushPatch({ ...ok, base: 'e'.repeat(40) }), 'repo_ref_not_found');
    for (const bad of [{ base: 'main' }, { branch: '-f' }, { branch: 'a..b' }, { patch: Buffer.alloc(0) }, { message: '' }, { author: { name: 'x\n', email: 'a@b' } }, { author: { name: 'x', email: 'a b@c' } }]) {
      await rejectsWith(cache.pushPatch({ ...ok, ...bad }), 'validation_failed');
    }
    await rejectsWith(cache.pushPatch({ ...ok, patch: 'not a patch\n' }), 'patch_rejected');
    expect(await serverRef('refs/heads/paddock/ok')).toBe('');
  });
});

describe('a malicious patch', () => {
  let outside: string;
  let linkBase: string;

  beforeAll(async () => {
    outside = path.join(dirs.work, 'outside');
    await mkdir(outside, { recursive: true });
    // A base whose tree holds a symlink out of the tree.
    const scratch = path.join(dirs.work, 'scratch-link');
    await git(['clone', '--quiet', '--no-local', '--', bare(), scratch]);
    await symlink(outside, path.join(scratch, 'link'));
    await git(['add', 'link'], { cwd: scratch });
    await git(['commit', '--quiet', '-m', 'link'], { cwd: scratch });
    await git(['push', '--quiet', 'origin', 'HEAD:refs/heads/with-link'], { cwd: scratch });
    linkBase = await git(['rev-parse', 'HEAD'], { cwd: scratch });
  });

  const newFile = (p: string, body = 'pwned') => `diff --git a/${p} b/${p}\nnew file mode 100644\n--- /dev/null\n+++ b/${p}\n@@ -0,0 +1 @@\n+${body}\n`;
  const cases: Array<[string, () => string, () => string]> = [
    ['climbs out with ..', () => newFile('../../pwned.txt'), () => base],
    ['names an absolute path', () => newFile(path.join(outside, 'pwned.txt')), () => base],
    ['writes into .git', () => newFile('.git/hooks/post-commit'), () => base],
    ['writes into .GIT', () => newFile('.GIT/config'), () => base],
    ['goes through a symlink of the base tree', () => newFile('link/pwned.txt'), () => linkBase],
    [
      'makes a symlink and goes through it',
      () =>
        `diff --git a/evil b/evil\nnew file mode 120000\n--- /dev/null\n+++ b/evil\n@@ -0,0 +1 @@\n+${outside}\n\\ No newline at end of file\n` +
        newFile('evil/pwned.txt'),
      () => base,
    ],
  ];

  it.each(cases)('is refused when it %s, and nothing is written or pushed', async (_what, patch, patchBase) => {
    const cache = newCache(path.join(dirs.cache, 'malicious'));
    const err = await rejectsWith(
      cache.pushPatch({ url, base: patchBase(), patch: patch(), branch: 'paddock/evil', message: 'evil', author }),
      'patch_rejected',
    );
    expect(err.details?.stderr).toMatch(/invalid path|beyond a symbolic link/);
    expect(await readdir(outside)).toEqual([]);
    expect(await serverRef('refs/heads/paddock/evil')).toBe('');
    // The temporary repository is gone too.
    expect((await readdir(path.join(dirs.cache, 'malicious', '.tmp'))).filter((f) => f.includes('.push.'))).toEqual([]);
  });
});
