import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { PaddockError } from '../../errors.js';
import { type GitAuth, type GitResult, type GitRunner } from './git.js';

/**
 * The bare mirrors: `<root>/<key>/` per repository, key = a hash of the normalised URL, with
 * `paddock-cache.json` (url, last use) inside and `<root>/<key>.lock` beside. A mirror holds the
 * remote's branches and tags (not `refs/pull/*`, which on GitHub outnumber them by far); a commit
 * only such a ref reaches is fetched by id when a job asks for it.
 */

export interface MirrorPaths {
  key: string;
  dir: string;
  lock: string;
  meta: string;
}

export interface MirrorMeta {
  url: string;
  created_at: string;
  last_used_at: string;
}

export const META_FILE = 'paddock-cache.json';
export const KEY_RE = /^[0-9a-f]{32}$/;
const REFSPECS = ['+refs/heads/*:refs/heads/*', '+refs/tags/*:refs/tags/*'];

/** Scheme and host lower-cased, default port and trailing slashes dropped; local paths resolved. */
export function normaliseRepoUrl(url: string): string {
  if (url.startsWith('/')) return `file://${path.resolve(url)}`;
  const u = new URL(url);
  const p = u.pathname.replace(/\/+$/, '');
  return u.protocol === 'file:' ? `file://${path.resolve(decodeURIComponent(p))}` : `${u.protocol}//${u.host}${p}`;
}

export function mirrorPaths(root: string, url: string): MirrorPaths {
  return pathsOfKey(root, createHash('sha256').update(normaliseRepoUrl(url)).digest('hex').slice(0, 32));
}

export function pathsOfKey(root: string, key: string): MirrorPaths {
  const dir = path.join(root, key);
  return { key, dir, lock: `${dir}.lock`, meta: path.join(dir, META_FILE) };
}

export async function readMeta(dir: string): Promise<MirrorMeta | undefined> {
  try {
    const m = JSON.parse(await readFile(path.join(dir, META_FILE), 'utf8')) as MirrorMeta;
    return typeof m.url === 'string' && typeof m.last_used_at === 'string' ? m : undefined;
  } catch {
    return undefined;
  }
}

/** Records a use (written whole, then renamed: a reader never sees half a file). */
export async function touchMeta(p: MirrorPaths, url: string): Promise<void> {
  const now = new Date().toISOString();
  const old = await readMeta(p.dir);
  const meta: MirrorMeta = { url, created_at: old?.created_at ?? now, last_used_at: now };
  const tmp = `${p.meta}.${randomBytes(4).toString('hex')}`;
  await writeFile(tmp, `${JSON.stringify(meta)}\n`);
  await rename(tmp, p.meta);
}

export async function mirrorExists(p: MirrorPaths): Promise<boolean> {
  try {
    return (await stat(path.join(p.dir, 'HEAD'))).isFile();
  } catch {
    return false;
  }
}

/** What talks to the remote: git, the cache's root, and the transports the policy allows. */
export interface RemoteOps {
  git: GitRunner;
  root: string;
  allow: { http: boolean; file: boolean };
}

export function unavailable(url: string, what: string, r: GitResult): PaddockError {
  return new PaddockError('repo_unavailable', `${what} ${url} failed: ${lastLines(r.stderr) || `git exited ${r.code}`}`, {
    url,
    stderr: r.stderr,
  });
}

/** The lines that say why (git's `fatal:`/`error:`), not its progress. */
function lastLines(stderr: string): string {
  const lines = stderr.split('\n').filter((l) => /^(fatal|error|remote):/.test(l));
  return (lines.length ? lines : stderr.split('\n')).slice(-3).join(' ').slice(0, 500);
}

/**
 * A first clone, made in `<root>/.tmp` and renamed into place, so a crash or a timeout never leaves
 * half a mirror where the next job would take it for a whole one.
 */
export async function createMirror(ops: RemoteOps, p: MirrorPaths, url: string, auth?: GitAuth, signal?: AbortSignal): Promise<void> {
  const tmpRoot = path.join(ops.root, '.tmp');
  await mkdir(tmpRoot, { recursive: true });
  const tmp = path.join(tmpRoot, `${p.key}.clone.${randomBytes(4).toString('hex')}`);
  try {
    const r = await ops.git.run(['clone', '--bare', '--quiet', '--no-local', '--template=', '--', url, tmp], {
      auth,
      signal,
      allow: ops.allow,
    });
    if (r.code !== 0) throw unavailable(url, 'clone of', r);
    for (const [i, spec] of REFSPECS.entries()) {
      const args = i === 0 ? ['config', 'remote.origin.fetch', spec] : ['config', '--add', 'remote.origin.fetch', spec];
      const c = await ops.git.run(['-C', tmp, ...args], { signal });
      if (c.code !== 0) throw new PaddockError('internal', `git config in a new mirror failed: ${c.stderr}`);
    }
    await rm(p.dir, { recursive: true, force: true });
    await rename(tmp, p.dir);
    await touchMeta(p, url);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

/** `git fetch --prune` of branches and tags; the URL is passed each time, so a mirror's config never matters. */
export async function fetchMirror(ops: RemoteOps, p: MirrorPaths, url: string, auth?: GitAuth, signal?: AbortSignal): Promise<void> {
  const r = await ops.git.run(['-C', p.dir, 'fetch', '--quiet', '--prune', '--no-tags', '--', url, ...REFSPECS], {
    auth,
    signal,
    allow: ops.allow,
  });
  if (r.code !== 0) throw unavailable(url, 'fetch of', r);
}

/** A commit no branch or tag reaches (a pull request's head): asked for by id. */
export async function fetchCommit(
  ops: RemoteOps,
  p: MirrorPaths,
  url: string,
  commit: string,
  auth?: GitAuth,
  signal?: AbortSignal,
): Promise<boolean> {
  const r = await ops.git.run(['-C', p.dir, 'fetch', '--quiet', '--no-tags', '--no-write-fetch-head', '--', url, commit], {
    auth,
    signal,
    allow: ops.allow,
  });
  return r.code === 0;
}

export interface ResolvedRef {
  commit: string;
  /** `refs/heads/<b>`, `refs/tags/<t>`, or the commit id when a commit was asked for. */
  ref: string;
}

/**
 * A branch, then a tag, then a commit id (full or abbreviated), as the mirror has them, in one
 * `cat-file --batch-check`; no ref: the remote's HEAD as the clone recorded it.
 */
export async function resolveRef(
  git: GitRunner,
  mirror: string,
  ref: string | undefined,
  signal?: AbortSignal,
): Promise<ResolvedRef | undefined> {
  let candidates: string[];
  if (ref === undefined) {
    const head = await git.run(['-C', mirror, 'symbolic-ref', '--quiet', 'HEAD'], { signal });
    if (head.code !== 0) return undefined;
    candidates = [head.stdout.trim()];
  } else {
    candidates = [`refs/heads/${ref}`, `refs/tags/${ref}`];
    if (/^[0-9a-f]{7,64}$/.test(ref)) candidates.push(ref);
  }
  const r = await git.run(['-C', mirror, 'cat-file', '--batch-check=%(objectname) %(objecttype)'], {
    input: candidates.map((c) => `${c}^{commit}\n`).join(''),
    signal,
  });
  if (r.code !== 0) throw new PaddockError('internal', `git cat-file in the mirror failed: ${r.stderr}`);
  const lines = r.stdout.split('\n');
  for (const [i, name] of candidates.entries()) {
    const m = /^([0-9a-f]{40,64}) commit$/.exec(lines[i] ?? '');
    if (m) return { commit: m[1]!, ref: name === ref ? m[1]! : name };
  }
  return undefined;
}
