import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { git, type GitHttpServer, makeBareRepo, startGitHttp } from './helpers/git-http.js';

// The loopback git server the repo cache and fake GitHub tests stand on: real clone, push and auth.

describe('startGitHttp', () => {
  let root: string;
  let work: string;
  let open: GitHttpServer;
  let closed: GitHttpServer;
  let commit: string;

  beforeAll(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'paddock-git-root-'));
    work = await mkdtemp(path.join(tmpdir(), 'paddock-git-work-'));
    ({ commit } = await makeBareRepo(root, 'octo/hello', { 'README.md': 'hello\n', 'src/a.txt': 'a\n' }));
    open = await startGitHttp({ root });
    closed = await startGitHttp({ root, token: 's3cret' });
  });
  afterAll(async () => {
    await open?.close();
    await closed?.close();
    await rm(root, { recursive: true, force: true });
    await rm(work, { recursive: true, force: true });
  });

  it('clones over smart HTTP and pushes a new commit back', async () => {
    const dest = path.join(work, 'clone');
    await git(['clone', '--quiet', '--', `${open.url}/octo/hello.git`, dest]);
    expect(await readFile(path.join(dest, 'src/a.txt'), 'utf8')).toBe('a\n');
    expect(await git(['rev-parse', 'HEAD'], { cwd: dest })).toBe(commit);
    expect(open.requests.some((r) => r.path.startsWith('/octo/hello.git/info/refs?service=git-upload-pack'))).toBe(true);

    // A pack bigger than http.postBuffer goes out chunked, without a Content-Length.
    await writeFile(path.join(dest, 'big.bin'), randomBytes(300_000));
    await git(['add', 'big.bin'], { cwd: dest });
    await git(['commit', '--quiet', '-m', 'big'], { cwd: dest });
    await git(['-c', 'http.postBuffer=65536', 'push', '--quiet', 'origin', 'HEAD:refs/heads/feature'], { cwd: dest });
    const pushed = await git(['rev-parse', 'refs/heads/feature'], { env: { GIT_DIR: path.join(root, 'octo/hello.git') } });
    expect(pushed).toBe(await git(['rev-parse', 'HEAD'], { cwd: dest }));
    expect(open.requests.some((r) => r.path === '/octo/hello.git/git-receive-pack' && r.chunked && r.status === 200)).toBe(true);
  });

  it('passes gzip request bodies through to http-backend', async () => {
    // A fetch from a clone with many commits the server lacks sends enough "have" lines to be gzipped.
    await makeBareRepo(root, 'octo/gzip', { 'a.txt': 'a\n' });
    const dest = path.join(work, 'haves');
    await git(['clone', '--quiet', '--', `${open.url}/octo/gzip.git`, dest]);
    // Dated after the common commit, so the negotiation walks all of them before it finds it.
    for (let i = 0; i < 60; i++) {
      const date = `${4_000_000_000 + i} +0000`;
      await git(['commit', '--quiet', '--allow-empty', '-m', `local ${i}`], { cwd: dest, env: { GIT_COMMITTER_DATE: date } });
    }
    const other = path.join(work, 'other');
    await git(['clone', '--quiet', '--', `${open.url}/octo/gzip.git`, other]);
    await git(['commit', '--quiet', '--allow-empty', '-m', 'remote'], { cwd: other });
    await git(['push', '--quiet', 'origin', 'HEAD:refs/heads/main'], { cwd: other });
    await git(['fetch', '--quiet', 'origin'], { cwd: dest });
    expect(await git(['rev-parse', 'origin/main'], { cwd: dest })).toBe(await git(['rev-parse', 'HEAD'], { cwd: other }));
    expect(open.requests.some((r) => r.path === '/octo/gzip.git/git-upload-pack' && r.encoding === 'gzip' && r.status === 200)).toBe(true);
  });

  it('answers 401 with a Basic challenge without the token, and serves with it', async () => {
    const res = await fetch(`${closed.url}/octo/hello.git/info/refs?service=git-upload-pack`);
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe('Basic realm="git"');
    const wrong = await fetch(`${closed.url}/octo/hello.git/info/refs?service=git-upload-pack`, {
      headers: { authorization: `Basic ${Buffer.from('x:nope').toString('base64')}` },
    });
    expect(wrong.status).toBe(401);
    await expect(git(['ls-remote', '--', `${closed.url}/octo/hello.git`])).rejects.toThrow(/Authentication failed|401|could not read Username/);

    const header = `Authorization: Basic ${Buffer.from('x-access-token:s3cret').toString('base64')}`;
    const refs = await git(['-c', `http.extraHeader=${header}`, 'ls-remote', '--', `${closed.url}/octo/hello.git`]);
    expect(refs).toContain(`${commit}\trefs/heads/main`);
  });

  it('answers 404 for a repository that does not exist', async () => {
    const res = await fetch(`${open.url}/octo/none.git/info/refs?service=git-upload-pack`);
    expect(res.status).toBe(404);
  });
});
